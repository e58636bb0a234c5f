import { StreamableFile } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import { lastValueFrom, of } from 'rxjs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { encodePage, HTML_COMPRESSION_MIN_BYTES, HtmlCompressionInterceptor, pageEncoding } from './html-compression.interceptor';
import { HtmlPage } from './html-page';

// express's own negotiation (req.acceptsEncodings is accepts(req).encodings), not a re-implementation of it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const accepts = require('accepts') as (req: { headers: Record<string, string | undefined> }) => { encodings(...e: string[]): string | false };

const request = (acceptEncoding?: string) => {
  const headers: Record<string, string | undefined> = acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding };
  return { headers, acceptsEncodings: (...e: string[]) => accepts({ headers }).encodings(...e) };
};

function response() {
  const headers = new Map<string, string>();
  return { headers, setHeader: (k: string, v: string) => headers.set(k.toLowerCase(), v), vary: (f: string) => headers.set('vary', f) };
}

async function serve(body: unknown, acceptEncoding?: string) {
  const res = response();
  const context = { switchToHttp: () => ({ getRequest: () => request(acceptEncoding), getResponse: () => res }) } as unknown as ExecutionContext;
  const out = await lastValueFrom(new HtmlCompressionInterceptor().intercept(context, { handle: () => of(body) }));
  return { out, headers: res.headers };
}

async function bytesOf(file: StreamableFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of file.getStream()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// A page like the leaderboard's: a table of rows, non-ASCII text (the rank plot's labels carry "·" and "…").
const page = `<!doctype html><html><body><table>${Array.from({ length: 200 }, (_, i) => `<tr><td>${i + 1}</td><td>Org ${i} · modèle-${i}</td><td>0.${(9000 - i * 7).toString().padStart(4, '0')}</td></tr>`).join('')}</table></body></html>`;

describe('HTML pages compressed for clients that take it', () => {
  it.each([
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0, br;q=0', 'identity'],
    ['identity', 'identity'],
    ['deflate', 'identity'],
    [undefined, 'identity'],
  ])('Accept-Encoding %p: %s', (header, expected) => {
    expect(pageEncoding(request(header))).toBe(expected);
  });

  it('brotli and gzip bodies decode to the page, byte for byte, and are far smaller', () => {
    const plain = Buffer.from(page, 'utf8');
    const br = encodePage(page, 'br');
    const gz = encodePage(page, 'gzip');
    expect(brotliDecompressSync(br).equals(plain)).toBe(true);
    expect(gunzipSync(gz).equals(plain)).toBe(true);
    expect(br.length).toBeLessThan(plain.length / 4);
    expect(gz.length).toBeLessThan(plain.length / 4);
    expect(encodePage(page, 'identity').equals(plain)).toBe(true);
  });

  it('sends the page compressed, with its length, Content-Encoding and Vary', async () => {
    const { out, headers } = await serve(page, 'gzip, deflate, br');
    expect(out).toBeInstanceOf(StreamableFile);
    const bytes = await bytesOf(out as StreamableFile);
    expect(brotliDecompressSync(bytes).toString('utf8')).toBe(page);
    expect((out as StreamableFile).getHeaders().length).toBe(bytes.length);
    expect(headers.get('content-encoding')).toBe('br');
    expect(headers.get('vary')).toBe('Accept-Encoding');

    const gz = await serve(page, 'gzip');
    expect(gunzipSync(await bytesOf(gz.out as StreamableFile)).toString('utf8')).toBe(page);
    expect(gz.headers.get('content-encoding')).toBe('gzip');
  });

  it('sends the page as it is to a client that takes no compression, and a short page as it is to anyone (Vary still set)', async () => {
    const none = await serve(page);
    expect((await bytesOf(none.out as StreamableFile)).toString('utf8')).toBe(page);
    expect((none.out as StreamableFile).getHeaders().length).toBe(Buffer.byteLength(page));
    expect(none.headers.has('content-encoding')).toBe(false);
    expect(none.headers.get('vary')).toBe('Accept-Encoding');
    const short = 'x'.repeat(HTML_COMPRESSION_MIN_BYTES - 1);
    const small = await serve(short, 'br');
    expect((await bytesOf(small.out as StreamableFile)).toString('utf8')).toBe(short);
    expect(small.headers.has('content-encoding')).toBe(false);
  });

  it('sends a page made of pieces (kept fragments as bytes) as the same bytes as the page in one string', async () => {
    const fragment = Buffer.from(page.slice(100, 5000), 'utf8');
    const pieces = new HtmlPage([page.slice(0, 100), fragment, page.slice(5000)]);
    expect(pieces.toString()).toBe(page);
    const { out, headers } = await serve(pieces, 'gzip, deflate, br');
    expect(headers.get('content-encoding')).toBe('br');
    expect(brotliDecompressSync(await bytesOf(out as StreamableFile)).equals(Buffer.from(page, 'utf8'))).toBe(true);
    const plain = await serve(pieces, 'identity');
    expect((await bytesOf(plain.out as StreamableFile)).equals(Buffer.from(page, 'utf8'))).toBe(true);
  });

  it('leaves what is not a page alone (a redirect sent through @Res returns nothing)', async () => {
    const { out, headers } = await serve(undefined, 'br');
    expect(out).toBeUndefined();
    expect(headers.size).toBe(0);
  });
});
