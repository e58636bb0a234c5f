import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : JSON.stringify(body)}`);
  }
}

/** A thin client of Assay's HTTP API, shared by the CLI, the demo and the e2e tests. */
export class AssayClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  withToken(token: string): AssayClient {
    return new AssayClient(this.baseUrl, token);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const parsed: unknown = text.length > 0 && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    if (!res.ok) throw new ApiError(res.status, parsed);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.json<T>('POST', path, body);
  }

  /** A download as bytes (reports, sample data): the body exactly as sent. */
  async getBytes(path: string): Promise<Buffer> {
    const res = await fetch(`${this.baseUrl}${path}`, { headers: this.headers() });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new ApiError(res.status, bytes.toString('utf8'));
    return bytes;
  }

  /** Streams a file as multipart/form-data (text fields first), reporting bytes sent. */
  uploadMultipart<T>(path: string, input: { fields: Record<string, string>; fileField: string; filePath: string; onProgress?: (sent: number, total: number) => void }): Promise<T> {
    const boundary = `----assay${randomBytes(12).toString('hex')}`;
    const head = Object.entries(input.fields)
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join('');
    const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="${input.fileField}"; filename="${basename(input.filePath)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const fileSize = statSync(input.filePath).size;
    const total = Buffer.byteLength(head) + Buffer.byteLength(fileHead) + fileSize + Buffer.byteLength(tail);
    const url = new URL(`${this.baseUrl}${path}`);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        { method: 'POST', hostname: url.hostname, port: url.port, path: url.pathname, headers: this.headers({ 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(total) }) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            if ((res.statusCode ?? 500) >= 400) reject(new ApiError(res.statusCode ?? 500, parsed));
            else resolve(parsed as T);
          });
        },
      );
      req.on('error', reject);
      let sent = 0;
      const body = Readable.from(
        (async function* () {
          yield Buffer.from(head + fileHead);
          for await (const chunk of createReadStream(input.filePath)) yield chunk as Buffer;
          yield Buffer.from(tail);
        })(),
      );
      body.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        input.onProgress?.(sent, total);
      });
      body.pipe(req);
    });
  }

  /** Follows a run's server-sent events until it ends; calls onEvent for each update. */
  async followRun(runId: string, onEvent: (summary: RunSummary) => void): Promise<RunSummary> {
    const res = await fetch(`${this.baseUrl}/api/runs/${runId}/events`, { headers: this.headers() });
    if (!res.ok || !res.body) throw new ApiError(res.status, await res.text());
    let last: RunSummary | null = null;
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let idx: number;
      while ((idx = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (data) {
          last = JSON.parse(data.slice(6)) as RunSummary;
          onEvent(last);
        }
      }
    }
    if (!last) throw new Error(`no events for run ${runId}`);
    return last;
  }
}

export interface RunSummary {
  id: string;
  phase: string;
  status: string;
  failureReason: string | null;
  failureDetail: string | null;
  casesTotal: number;
  casesDone: number;
  progress: number;
  durationMs: number | null;
}
