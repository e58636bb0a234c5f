// A small streaming tar reader (ustar, pax and GNU long names). Written here rather than pulled from npm because
// the intake needs exact control: entries are read one at a time from an async byte source, bodies are streamed
// (never buffered whole), and nothing is ever written to disk.

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Path as written (pax `path` / GNU long name / ustar prefix + name). */
  name: string;
  type: TarEntryType;
  /** Raw typeflag character, for messages. */
  typeflag: string;
  /** Link target for symlinks and hard links. */
  linkname: string;
  /** Bytes of body that follow the header (the framing; the body stream yields exactly this many). */
  size: number;
  mode: number;
}

export class TarFormatError extends Error {
  readonly code = 'tar_format';
}

const BLOCK = 512;
// pax and GNU long-name records are metadata; a larger one is an attack on the reader, not a real archive.
const MAX_META_BYTES = 1 << 20;

/** Pulls exact byte counts out of an async iterable of chunks. */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes handed out so far (read or skipped). */
  consumed = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.it.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /** Up to max bytes of what is buffered (reading more first if nothing is); empty only at end of input. */
  async chunk(max: number): Promise<Buffer> {
    if (this.buf.length === 0) await this.fill();
    while (this.buf.length === 0 && !this.done) await this.fill();
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /** Reads and discards the rest of the input. */
  async drain(): Promise<void> {
    this.consumed += this.buf.length;
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      this.consumed += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
  }

  /** Stops pulling from the source (lets a generator or stream behind it clean up). */
  async close(): Promise<void> {
    this.done = true;
    await this.it.return?.();
  }
}

function cString(b: Buffer, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

function numeric(b: Buffer, start: number, len: number, what: string): number {
  const field = b.subarray(start, start + len);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    // GNU base-256: big-endian, high bit set; negative values are never valid here.
    if (first & 0x40) throw new TarFormatError(`negative ${what}`);
    let v = first & 0x3f;
    for (let i = 1; i < field.length; i++) {
      v = v * 256 + (field[i] ?? 0);
      if (!Number.isSafeInteger(v)) throw new TarFormatError(`${what} too large`);
    }
    return v;
  }
  const s = cString(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad ${what} field '${s}'`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw new TarFormatError(`${what} too large`);
  return v;
}

/** True when the block is a tar header whose checksum matches. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  try {
    return numeric(block, 148, 8, 'checksum') === sum;
  } catch {
    return false;
  }
}

export function isZeroBlock(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

function parsePax(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let rest = Buffer.from(text, 'utf8');
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    if (space <= 0) throw new TarFormatError('bad pax record');
    const len = Number(rest.subarray(0, space).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= space || len > rest.length) throw new TarFormatError('bad pax record length');
    const record = rest.subarray(space + 1, len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    rest = rest.subarray(len);
  }
  return out;
}

/**
 * Yields the entries of a tar stream. The body of each entry is read through `body()` before asking for the next
 * entry; whatever the caller leaves unread is skipped. Ends at the end-of-archive block or the end of input
 * (a truncated archive throws TarFormatError).
 */
export async function* readTar(src: ByteSource): AsyncGenerator<{ entry: TarEntry; body: () => AsyncGenerator<Buffer> }> {
  let paxPath: string | undefined;
  let paxLink: string | undefined;
  let paxSize: number | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let remaining = 0;
  let padding = 0;
  const skipRest = async (): Promise<void> => {
    while (remaining > 0) {
      const c = await src.chunk(remaining);
      if (c.length === 0) throw new TarFormatError('archive truncated inside an entry');
      remaining -= c.length;
    }
    if (padding > 0) {
      const p = await src.read(padding);
      if (p.length < padding) throw new TarFormatError('archive truncated in padding');
      padding = 0;
    }
  };
  const readMeta = async (size: number): Promise<string> => {
    if (size > MAX_META_BYTES) throw new TarFormatError(`metadata entry of ${size} bytes`);
    const b = await src.read(size);
    if (b.length < size) throw new TarFormatError('archive truncated in a metadata entry');
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if ((await src.read(pad)).length < pad) throw new TarFormatError('archive truncated in padding');
    return b.toString('utf8');
  };

  for (;;) {
    await skipRest();
    const header = await src.read(BLOCK);
    if (header.length === 0) return; // end of input without end blocks: tolerated (some writers omit them)
    if (header.length < BLOCK) throw new TarFormatError('archive truncated in a header');
    if (isZeroBlock(header)) return;
    if (!isTarHeader(header)) throw new TarFormatError(`bad header checksum at byte ${src.consumed - BLOCK}`);
    const flag = String.fromCharCode(header[156] ?? 0).replace('\0', '0');
    const size = numeric(header, 124, 12, 'size');
    if (flag === 'x' || flag === 'g') {
      const pax = parsePax(await readMeta(size));
      if (flag === 'x') {
        paxPath = pax.get('path') ?? paxPath;
        paxLink = pax.get('linkpath') ?? paxLink;
        const s = pax.get('size');
        if (s !== undefined) {
          paxSize = Number(s);
          if (!Number.isSafeInteger(paxSize) || paxSize < 0) throw new TarFormatError(`bad pax size '${s}'`);
        }
      }
      continue;
    }
    if (flag === 'L' || flag === 'K') {
      const v = (await readMeta(size)).replace(/\0+$/, '');
      if (flag === 'L') longName = v;
      else longLink = v;
      continue;
    }
    const magic = header.subarray(257, 262).toString('ascii');
    const prefix = magic === 'ustar' ? cString(header, 345, 155) : '';
    const shortName = cString(header, 0, 100);
    const entry: TarEntry = {
      name: paxPath ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName),
      typeflag: flag,
      type: typeOf(flag),
      linkname: paxLink ?? longLink ?? cString(header, 157, 100),
      size: paxSize ?? size,
      mode: numeric(header, 100, 8, 'mode'),
    };
    paxPath = paxLink = longName = longLink = undefined;
    paxSize = undefined;
    // Links and directories carry no body whatever their size field says (ustar); GNU sparse maps are bodies.
    const bodySize = entry.type === 'symlink' || entry.type === 'hardlink' || entry.type === 'directory' ? 0 : entry.size;
    remaining = bodySize;
    padding = (BLOCK - (bodySize % BLOCK)) % BLOCK;
    const body = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        const c = await src.chunk(Math.min(remaining, 1 << 16));
        if (c.length === 0) throw new TarFormatError(`archive truncated inside '${entry.name}'`);
        remaining -= c.length;
        yield c;
      }
    };
    yield { entry, body };
  }
}
