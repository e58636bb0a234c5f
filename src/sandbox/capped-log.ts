/** Keeps the first and last halves of the log within the byte cap; the end usually says why a run failed. */
export class CappedLog {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  private readonly headCap: number;
  private readonly tailCap: number;

  constructor(capBytes: number) {
    this.headCap = Math.floor(capBytes / 2);
    this.tailCap = capBytes - this.headCap;
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  push(chunk: Buffer): void {
    if (this.headBytes < this.headCap) {
      // Copies, not views: a view would keep the whole (possibly huge) chunk alive.
      const take = Buffer.from(chunk.subarray(0, this.headCap - this.headBytes));
      this.head.push(take);
      this.headBytes += take.length;
      chunk = chunk.subarray(take.length);
      if (chunk.length === 0) return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailBytes > this.tailCap) {
      const first = this.tail[0];
      if (!first) break;
      const excess = this.tailBytes - this.tailCap;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = Buffer.from(first.subarray(excess));
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  /** The log as the container wrote it (any bytes: NUL, invalid UTF-8), with a marker where bytes were dropped. */
  bytes(): Buffer {
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    return this.dropped > 0 ? Buffer.concat([head, Buffer.from(`\n[... ${this.dropped} bytes of log dropped ...]\n`), tail]) : Buffer.concat([head, tail]);
  }

  /** The same, escaped (escapeLogBytes): safe for text columns, JSON and terminals. */
  text(): string {
    return escapeLogBytes(this.bytes());
  }
}

/**
 * Joins the logs of a run's batches and caps the whole at capBytes, keeping head and tail (the end says why a
 * run failed). Bytes in, bytes out: nothing is decoded, so every byte sequence survives storage.
 */
export function joinRunLogs(parts: readonly Buffer[], capBytes: number): Buffer {
  const all = Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('\n'), p])));
  if (all.length <= capBytes) return all;
  const half = Math.floor(capBytes / 2);
  return Buffer.concat([all.subarray(0, half), Buffer.from(`\n[... ${all.length - 2 * half} bytes cut ...]\n`), all.subarray(all.length - half)]);
}

/** Names the escaping of escapeLogBytes for API clients. */
export const LOG_ESCAPING = 'utf8; \\\\ for backslash, \\xHH for bytes that are not UTF-8, \\u{hex} for control and invisible characters';

/**
 * A readable, unambiguous and reversible text form of arbitrary bytes: valid UTF-8 stays as is, except
 * backslash (written \\), control characters other than newline and tab, and the invisible characters that can
 * make a log line lie about itself (bidi overrides, line/paragraph separators), written \u{hex}. Every byte that
 * is not part of valid UTF-8 (a stray continuation byte, an overlong form, an encoded surrogate, past U+10FFFF)
 * is written \xHH. The result never holds NUL or a lone surrogate, so Postgres text and JSON take it.
 */
export function escapeLogBytes(buf: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const b0 = buf[i] as number;
    if (b0 < 0x80) {
      if (b0 === 0x5c) out += '\\\\';
      else if (b0 === 0x0a || b0 === 0x09) out += String.fromCharCode(b0);
      else if (b0 < 0x20 || b0 === 0x7f) out += `\\u{${b0.toString(16)}}`;
      else out += String.fromCharCode(b0);
      i += 1;
      continue;
    }
    const cp = decodeUtf8At(buf, i);
    if (cp === null) {
      out += `\\x${b0.toString(16).padStart(2, '0')}`;
      i += 1;
      continue;
    }
    out += isInvisibleControl(cp.codePoint) ? `\\u{${cp.codePoint.toString(16)}}` : String.fromCodePoint(cp.codePoint);
    i += cp.length;
  }
  return out;
}

/** One well-formed UTF-8 sequence of 2-4 bytes at i (Unicode Table 3-7), or null. */
function decodeUtf8At(buf: Uint8Array, i: number): { codePoint: number; length: number } | null {
  const b0 = buf[i] as number;
  const cont = (k: number, lo = 0x80, hi = 0xbf): number | null => {
    const b = buf[i + k];
    return b !== undefined && b >= lo && b <= hi ? b & 0x3f : null;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 === null ? null : { codePoint: ((b0 & 0x1f) << 6) | c1, length: 2 };
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    // E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
    const c1 = cont(1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf);
    const c2 = c1 === null ? null : cont(2);
    return c1 === null || c2 === null ? null : { codePoint: ((b0 & 0x0f) << 12) | (c1 << 6) | c2, length: 3 };
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    // F0 needs 90..BF (no overlongs); F4 needs 80..8F (nothing past U+10FFFF).
    const c1 = cont(1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf);
    const c2 = c1 === null ? null : cont(2);
    const c3 = c2 === null ? null : cont(3);
    return c1 === null || c2 === null || c3 === null ? null : { codePoint: ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, length: 4 };
  }
  return null;
}

function isInvisibleControl(cp: number): boolean {
  return (cp >= 0x80 && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0xfeff;
}
