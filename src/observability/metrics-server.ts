import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AssayMetrics } from './metrics';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Whether the request carries `Authorization: Bearer <token>` (compared in constant time, as digests). */
export function scrapeAuthorized(header: string | undefined, token: string | null): boolean {
  if (token === null) return true;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  return timingSafeEqual(digest(match[1]), digest(token));
}

/**
 * The scrape listener: a bare node:http server apart from the API (its own port and host, no Express, no cookies, no
 * CORS), answering GET /metrics and nothing else. Prometheus reaches it on the internal network; the API's clients
 * never do. With a token, a scrape without it is refused (401) before anything is collected.
 */
export class MetricsServer {
  private server: Server | null = null;

  constructor(
    private readonly metrics: AssayMetrics,
    private readonly options: { host: string; port: number; token: string | null },
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    // A scrape is one small request: a slow or idle client is not held.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** The port it listens on (the one chosen when configured as 0); null before start() and after stop(). */
  get port(): number | null {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address ? address.port : null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path !== '/metrics') return send(404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (!scrapeAuthorized(req.headers.authorization, this.options.token)) return send(401, 'unauthorized\n', { 'www-authenticate': 'Bearer realm="assay-metrics"' });
    try {
      const { contentType, body } = await this.metrics.render();
      send(200, body, { 'content-type': contentType });
    } catch {
      send(500, 'metrics could not be collected\n');
    }
  }
}
