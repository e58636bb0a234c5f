import { CallHandler, ExecutionContext, Injectable, NestInterceptor, StreamableFile } from '@nestjs/common';
import type { Request, Response } from 'express';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { map, Observable } from 'rxjs';
import { HtmlPage } from './html-page';

/** Pages shorter than this go as they are (a compressed body would save less than its headers cost). */
export const HTML_COMPRESSION_MIN_BYTES = 1024;

export type HtmlEncoding = 'br' | 'gzip' | 'identity';

/**
 * The encoding to send a page in: brotli where the client takes it at all, else gzip, else none. Whether it takes one
 * is express's reading of the header (`req.acceptsEncodings`, the negotiator package: `br;q=0` refuses brotli, no
 * header means identity only). Asked for one at a time on purpose: among several acceptable ones negotiator returns
 * the client's first listed, and browsers list gzip before br; brotli is the smaller and, at the quality used here,
 * the cheaper of the two, and the server may choose among what the client accepts (RFC 9110 §12.5.3).
 */
export function pageEncoding(req: { acceptsEncodings(encoding: string): string | false }): HtmlEncoding {
  if (req.acceptsEncodings('br') === 'br') return 'br';
  if (req.acceptsEncodings('gzip') === 'gzip') return 'gzip';
  return 'identity';
}

/**
 * One page's bytes in the given encoding. One-shot and synchronous on purpose: brotli at quality 1 compresses the
 * 100-row leaderboard page (about 140 KB of HTML) in about 0.3 ms to an eighth of its size, less than a stream's
 * round trips through the thread pool cost (the `compression` middleware's way, which also drops Content-Length);
 * gzip at level 1 is the fallback. Quality 1 because the page is made per request (it carries the reader's CSRF
 * token): a higher level buys a few KB for several times the CPU (perf/RESULTS.md).
 */
export function encodePage(html: string | Buffer, encoding: HtmlEncoding): Buffer {
  const bytes = typeof html === 'string' ? Buffer.from(html, 'utf8') : html;
  if (encoding === 'br') return brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 1, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  if (encoding === 'gzip') return gzipSync(bytes, { level: 1 });
  return bytes;
}

/**
 * Sends a route's HTML compressed when the client takes it (brotli or gzip), with `Vary: Accept-Encoding`. For the
 * web pages, whose biggest (a benchmark's leaderboards) is over 100 KB of markup that compresses about eight to one;
 * sent as it was, its bytes were most of the cost of serving it at 200 requests/s (perf/RESULTS.md). A route that
 * returns anything but a string or an HtmlPage (a redirect through @Res, an error page from the filter) is left alone.
 */
@Injectable()
export class HtmlCompressionInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    return next.handle().pipe(
      map((body: unknown) => {
        if (typeof body !== 'string' && !(body instanceof HtmlPage)) return body;
        res.vary('Accept-Encoding');
        // Bytes first, once: a rendered page is a rope of thousands of pieces, and asking a rope its UTF-8 length
        // flattens it (about 1 ms for the leaderboard page here), which making the bytes would do again.
        const plain = typeof body === 'string' ? Buffer.from(body, 'utf8') : body.bytes();
        const encoding = plain.length < HTML_COMPRESSION_MIN_BYTES ? 'identity' : pageEncoding(req);
        if (encoding !== 'identity') res.setHeader('Content-Encoding', encoding);
        // As bytes with their length (Nest would send a bare Buffer as JSON); the route's Content-Type stays.
        const bytes = encodePage(plain, encoding);
        return new StreamableFile(bytes, { length: bytes.length });
      }),
    );
  }
}
