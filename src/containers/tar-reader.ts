import { posix } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { extract, type Extract } from 'tar-stream';

/** The pax keys a layer entry may carry (POSIX names, sizes, times, ids); xattrs and vendor keys are refused. */
const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'mtime', 'atime', 'ctime', 'uid', 'gid', 'uname', 'gname']);

// Reads a tar stream with tar-stream 3 and refuses every archive that dockerd (Go archive/tar, then Docker's own
// extraction rules) could read differently. tar-stream does the framing; each entry's raw header blocks (its pax /
// GNU long-name headers and its own header) are read again here under Go's rules, and any difference in name, link
// target or body size is an ambiguity, refused outright. Where tar-stream resolves an ambiguity silently, the
// comment at the check says so. Nothing is buffered but headers; bodies stream.

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarEntry {
  /** Name as both readers see it (pax `path` / GNU long name / ustar prefix + name). */
  name: string;
  /** The name Docker extracts to: cleaned, no leading `./`, no trailing `/`. */
  path: string;
  type: TarEntryType;
  /** Link target for symlinks and hard links ('' otherwise). */
  linkname: string;
  /** Body bytes (0 for everything but regular files). */
  size: number;
  mode: number;
}

/** Not a readable tar stream at all (bad checksum, truncated, garbage). */
export class TarFormatError extends Error {
  readonly code = 'tar_format';
}

export type TarProblemCode = 'path_traversal' | 'ambiguous_archive' | 'duplicate_entry' | 'special_file' | 'setuid_file' | 'too_large';

/** A readable archive that must not be loaded: an entry Docker would read differently, or one that is unsafe. */
export class TarRejection extends Error {
  constructor(
    readonly code: TarProblemCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ReadTarOptions {
  /** Entries per archive; the names are kept (duplicate and link checks), so this bounds memory. */
  maxEntries: number;
  /** Outer docker-save archives hold symlinks between blobs (Docker 25+); layers may hold any link. */
  what: 'archive' | 'layer';
}

const BLOCK = 512;
// Headers of one entry (pax and GNU long-name records plus the header itself), with the chunks in flight behind
// them. tar-stream allows 4 MiB per record; real archives need a few KiB.
const MAX_HEADER_REGION = 8 << 20;

const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

/**
 * Passes the stream through and keeps the bytes of the current entry's headers (everything since the end of the
 * previous entry's body), so the raw header blocks behind each tar-stream entry can be read again. Body bytes are
 * kept only while in flight (a few chunks): memory stays bounded whatever the archive.
 */
class HeaderTap extends Transform {
  private pos = 0;
  private from = 0;
  private kept: Buffer[] = [];
  /** Absolute offset of kept[0][0]. */
  private keptStart = 0;
  private keptBytes = 0;
  /** Megabytes of zeros stood where a header should: Go has ended the archive there. */
  endedByZeros = false;

  constructor(private readonly maxKeep: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const end = this.pos + chunk.length;
    if (end > this.from) {
      const skip = Math.max(0, this.from - this.pos);
      if (this.keptBytes === 0) this.keptStart = this.pos + skip;
      this.kept.push(chunk.subarray(skip));
      this.keptBytes += chunk.length - skip;
    }
    this.pos = end;
    if (this.keptBytes > this.maxKeep) {
      if (!this.kept.every(isZero)) {
        cb(new TarRejection('ambiguous_archive', `more than ${this.maxKeep} bytes of tar headers before one entry`));
        return;
      }
      this.endedByZeros = true;
      this.kept = [];
      this.keptBytes = 0;
      this.from = this.pos;
      this.keptStart = this.pos;
    }
    cb(null, chunk);
  }

  /** Raw bytes [from, end): the headers of the entry whose body starts at `end`. */
  region(end: number): Buffer {
    const parts: Buffer[] = [];
    let at = this.keptStart;
    for (const b of this.kept) {
      const s = Math.max(this.from, at);
      const e = Math.min(end, at + b.length);
      if (e > s) parts.push(b.subarray(s - at, e - at));
      at += b.length;
      if (at >= end) break;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** The next entry's headers start at `offset` (after this entry's body and padding). */
  advance(offset: number): void {
    this.from = offset;
    while (this.kept.length > 0) {
      const b = this.kept[0] as Buffer;
      if (this.keptStart + b.length <= offset) {
        this.kept.shift();
        this.keptStart += b.length;
        this.keptBytes -= b.length;
        continue;
      }
      if (this.keptStart < offset) {
        const cut = offset - this.keptStart;
        this.kept[0] = b.subarray(cut);
        this.keptStart = offset;
        this.keptBytes -= cut;
      }
      break;
    }
    if (this.kept.length === 0) this.keptStart = offset;
  }

  /** What follows the last entry: must be end-of-archive zeros only (Go stops at them; tar-stream reads on). */
  tailIsZero(): boolean {
    return this.kept.every(isZero);
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function cString(b: Buffer, start: number, len: number): Buffer {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul);
}

/** UTF-8 text of raw name bytes; names that are not valid UTF-8 would compare differently in Go and JS. */
function utf8(raw: Buffer, what: string): string {
  const s = raw.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(raw)) throw new TarRejection('ambiguous_archive', `${what} is not valid UTF-8`);
  return s;
}

/** Go's parseNumeric: base-256 or octal, trimmed of spaces and NULs, strict (tar-stream's parseInt is not). */
function goNumeric(b: Buffer, start: number, len: number, what: string): number {
  const field = b.subarray(start, start + len);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80) throw new TarRejection('ambiguous_archive', `negative or malformed base-256 ${what}`);
    let v = 0;
    for (let i = 1; i < field.length; i++) {
      v = v * 256 + (field[i] ?? 0);
      if (!Number.isSafeInteger(v)) throw new TarRejection('ambiguous_archive', `${what} too large`);
    }
    return v;
  }
  const s = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarRejection('ambiguous_archive', `${what} field '${s.replace(/[^\x20-\x7e]/g, '?')}' is not octal (Go refuses it, tar-stream would guess)`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw new TarRejection('ambiguous_archive', `${what} too large`);
  return v;
}

/** Go accepts a checksum computed over signed or unsigned bytes; tar-stream only unsigned. Strict field parse. */
function checksumOk(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 32 : (h[i] ?? 0);
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  const want = goNumeric(h, 148, 8, 'checksum');
  return want === unsigned || want === signed;
}

/** Strict pax records (Go's parsePAXRecord): "<len> key=value\n", exact lengths, no duplicate keys. */
function parsePax(data: Buffer, where: string): Map<string, string> {
  const out = new Map<string, string>();
  let rest = data;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const lenText = space > 0 ? rest.subarray(0, space).toString('latin1') : '';
    if (!/^[1-9][0-9]*$/.test(lenText)) throw new TarRejection('ambiguous_archive', `${where}: malformed pax record`);
    const len = Number(lenText);
    if (len > rest.length || rest[len - 1] !== 0x0a) throw new TarRejection('ambiguous_archive', `${where}: pax record length does not match`);
    const record = rest.subarray(space + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarRejection('ambiguous_archive', `${where}: pax record without key=value`);
    const key = utf8(record.subarray(0, eq), `${where}: pax key`);
    const valueRaw = record.subarray(eq + 1);
    if (out.has(key)) throw new TarRejection('ambiguous_archive', `${where}: pax key '${key}' given twice`);
    if (valueRaw.includes(0)) throw new TarRejection('ambiguous_archive', `${where}: pax '${key}' contains a NUL byte`);
    out.set(key, utf8(valueRaw, `${where}: pax '${key}'`));
    rest = rest.subarray(len);
  }
  return out;
}

interface GoReading {
  typeflag: string;
  name: string;
  linkname: string;
  /** Body bytes Go's reader consumes after the header. */
  bodySize: number;
  size: number;
  mode: number;
}

const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

/**
 * Reads one entry's header blocks (`region`: its pax/GNU records, then its own header) under Go archive/tar's rules.
 * Refuses what Go and tar-stream resolve differently, or what only one of them accepts.
 */
function goReading(region: Buffer, index: number): GoReading {
  const where = `entry ${index + 1}`;
  let off = 0;
  let pax: Map<string, string> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  for (;;) {
    if (off + BLOCK > region.length) throw new TarRejection('ambiguous_archive', `${where}: tar framing disagrees between readers`);
    const h = region.subarray(off, off + BLOCK);
    // Go ends the archive at a zero block; tar-stream skips it and reads on, so an entry after one is hidden from Go.
    if (isZero(h)) throw new TarRejection('ambiguous_archive', `${where}: entry after the end-of-archive marker`);
    if (!checksumOk(h)) throw new TarRejection('ambiguous_archive', `${where}: header checksum Go would refuse`);
    const flag = String.fromCharCode(h[156] ?? 0);
    const size = goNumeric(h, 124, 12, 'size');
    off += BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (off + size + pad(size) > region.length) throw new TarRejection('ambiguous_archive', `${where}: tar framing disagrees between readers`);
      const data = region.subarray(off, off + size);
      off += size + pad(size);
      // tar-stream merges a global header into later local ones only; Go leaves it to the caller (Docker ignores it).
      if (flag === 'g') throw new TarRejection('ambiguous_archive', `${where}: global pax header (readers apply it differently)`);
      if (flag === 'x') {
        // Two local pax headers: tar-stream keeps the last; refuse rather than pick.
        if (pax) throw new TarRejection('ambiguous_archive', `${where}: two pax headers for one entry`);
        pax = parsePax(data, where);
        for (const k of pax.keys()) {
          if (k.startsWith('GNU.sparse')) throw new TarRejection('ambiguous_archive', `${where}: GNU sparse file (not supported)`);
          // File capabilities are setuid by another name; any other xattr or unknown key is refused too: dockerd may
          // fail to apply it (a vendor fault the intake must name) or apply what the intake never saw.
          if (k === 'SCHILY.xattr.security.capability') throw new TarRejection('setuid_file', `${where}: file capabilities (security.capability xattr)`);
          if (!PAX_KEYS.has(k)) throw new TarRejection('ambiguous_archive', `${where}: pax key '${k.slice(0, 80)}' is not accepted (only ${[...PAX_KEYS].join(', ')})`);
        }
      } else if (flag === 'L') {
        if (longName !== null) throw new TarRejection('ambiguous_archive', `${where}: two GNU long names for one entry`);
        longName = utf8(cString(data, 0, data.length), `${where}: GNU long name`);
      } else {
        if (longLink !== null) throw new TarRejection('ambiguous_archive', `${where}: two GNU long link names for one entry`);
        longLink = utf8(cString(data, 0, data.length), `${where}: GNU long link name`);
      }
      continue;
    }
    if (off !== region.length) throw new TarRejection('ambiguous_archive', `${where}: tar framing disagrees between readers`);
    // Format as Go's getFormat decides it: the ustar prefix is 155 bytes, star's 131, GNU and v7 have none.
    const magic = h.subarray(257, 263).toString('latin1');
    const version = h.subarray(263, 265).toString('latin1');
    const star = magic === 'ustar\0' && h.subarray(508, 512).toString('latin1') === 'tar\0';
    let prefix: Buffer = Buffer.alloc(0);
    if (magic === 'ustar\0') prefix = cString(h, 345, star ? 131 : 155);
    else if (!(magic === 'ustar ' && version === ' \0')) throw new TarRejection('ambiguous_archive', `${where}: pre-POSIX (v7) or unknown tar header`);
    const short = cString(h, 0, 100);
    let name = utf8(prefix.length ? Buffer.concat([prefix, Buffer.from('/'), short]) : short, `${where}: name`);
    let linkname = utf8(cString(h, 157, 100), `${where}: link name`);
    let bodySize = size;
    // Go applies pax first and then lets a GNU long name win; tar-stream does the opposite. Refuse both at once.
    if (pax?.has('path') && longName !== null) throw new TarRejection('ambiguous_archive', `${where}: both a pax path and a GNU long name ('${pax.get('path')}' vs '${longName}')`);
    if (pax?.has('linkpath') && longLink !== null) throw new TarRejection('ambiguous_archive', `${where}: both a pax linkpath and a GNU long link name`);
    if (pax?.has('path')) name = pax.get('path') as string;
    if (pax?.has('linkpath')) linkname = pax.get('linkpath') as string;
    if (pax?.has('size')) {
      const s = pax.get('size') as string;
      if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new TarRejection('ambiguous_archive', `${where}: pax size '${s}' Go would refuse`);
      bodySize = Number(s);
    }
    if (longName !== null) name = longName;
    if (longLink !== null) linkname = longLink;
    const fileSize = bodySize;
    if (HEADER_ONLY.has(flag)) bodySize = 0;
    return { typeflag: flag, name, linkname, bodySize, size: fileSize, mode: goNumeric(h, 100, 8, 'mode') };
  }
}

/** Docker's view of an entry name: filepath.Clean, relative to the root. */
function cleanPath(name: string): string {
  const n = posix.normalize(name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return n === '.' ? '' : n;
}

function describeType(flag: string): string {
  return { '3': 'character device', '4': 'block device', '6': 'FIFO' }[flag] ?? `entry of tar type '${flag.replace(/[^\x20-\x7e]/g, '?')}'`;
}

interface Seen {
  type: TarEntryType;
}

/** Checks one entry against the rules Docker extracts by, and against what the archive holds so far. */
function checkEntry(go: GoReading, seen: Map<string, Seen>, opts: ReadTarOptions, index: number): TarEntry {
  const where = `entry ${index + 1}`;
  const name = go.name;
  if (name.includes('\0')) throw new TarRejection('ambiguous_archive', `${where}: name contains a NUL byte`);
  if (name === '') throw new TarRejection('ambiguous_archive', `${where}: empty name`);
  let type: TarEntryType;
  switch (go.typeflag) {
    case '0':
    case '\0':
      // tar-stream turns a regular file named `dir/` into a directory and skips its body; Go reads the body.
      if (name.endsWith('/')) throw new TarRejection('ambiguous_archive', `regular file '${name}' is named like a directory`);
      type = 'file';
      break;
    case '5':
      type = 'directory';
      break;
    case '2':
      type = 'symlink';
      break;
    case '1':
      type = 'hardlink';
      break;
    case '3':
    case '4':
    case '6':
      throw new TarRejection('special_file', `${describeType(go.typeflag)} '${name}' (device nodes and FIFOs are refused)`);
    default:
      throw new TarRejection('ambiguous_archive', `${describeType(go.typeflag)} '${name}' is not supported`);
  }
  // Go gives link, device, FIFO and directory headers no body whatever their size field; tar-stream reads one for all
  // but directories. A size on any of them is refused, so both frame the archive alike.
  if (type !== 'file' && go.size !== 0) throw new TarRejection('ambiguous_archive', `${type} '${name}' carries a body of ${go.size} bytes`);
  if (name.startsWith('/')) throw new TarRejection('path_traversal', `entry '${name}' has an absolute path`);
  if (name.split('/').includes('..')) throw new TarRejection('path_traversal', `entry '${name}' escapes the image root`);
  const path = cleanPath(name);
  if (type !== 'directory' && (go.mode & 0o6000) !== 0) {
    throw new TarRejection('setuid_file', `'${name}' is setuid/setgid (mode ${(go.mode & 0o7777).toString(8)}); clear the bits, e.g. chmod ug-s, in the layer that adds it`);
  }
  if (type === 'hardlink') {
    const target = go.linkname;
    if (target.startsWith('/') || target.split('/').includes('..')) throw new TarRejection('path_traversal', `hard link '${name}' -> '${target}' points outside the image root`);
    // A hard link resolves inside this layer only: its target must be a file this layer already wrote.
    if (seen.get(cleanPath(target))?.type !== 'file') throw new TarRejection('path_traversal', `hard link '${name}' -> '${target}' does not point at a file earlier in the ${opts.what}`);
  }
  if (type === 'symlink') {
    const target = go.linkname;
    if (target === '' || target.includes('\0')) throw new TarRejection('ambiguous_archive', `symlink '${name}' has an empty or NUL target`);
    // Absolute targets resolve inside the container's root; relative ones must not climb out of it.
    const resolved = posix.normalize(posix.join(posix.dirname(path), target));
    if (!target.startsWith('/') && (resolved === '..' || resolved.startsWith('../'))) {
      throw new TarRejection('path_traversal', `symlink '${name}' -> '${target}' escapes the image root`);
    }
  }
  if (path !== '') {
    // Writing through a symlink the same archive created lands somewhere the intake did not look.
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (seen.get(parent)?.type === 'symlink') throw new TarRejection('path_traversal', `entry '${name}' is written through the symlink '${parent}'`);
    }
    if (seen.has(path)) throw new TarRejection('duplicate_entry', `'${name}' appears twice in the ${opts.what} (readers disagree on which copy wins)`);
    if (seen.size >= opts.maxEntries) throw new TarRejection('too_large', `the ${opts.what} has more than ${opts.maxEntries} entries`);
    seen.set(path, { type });
  }
  return { name, path, type, linkname: type === 'symlink' || type === 'hardlink' ? go.linkname : '', size: type === 'file' ? go.size : 0, mode: go.mode };
}

export interface TarItem {
  entry: TarEntry;
  /** The entry's body; read it to the end (or not at all) before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

function asFormatError(err: unknown): unknown {
  if (err instanceof TarRejection || err instanceof TarFormatError) return err;
  if (err instanceof Error && /tar header|Unexpected end of data|Header exceeds|Invalid header/i.test(err.message)) return new TarFormatError(err.message);
  return err;
}

/**
 * Yields the entries of a tar stream, each checked (see checkEntry). Throws TarFormatError for an unreadable
 * stream and TarRejection for an archive that must not reach Docker. Stops reading the source when the caller
 * stops (return) or on the first problem.
 */
export async function* readTar(source: AsyncIterable<Buffer | Uint8Array | string> | Readable, opts: ReadTarOptions): AsyncGenerator<TarItem> {
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const tap = new HeaderTap(MAX_HEADER_REGION);
  const ex: Extract = extract();
  let failure: unknown = null;
  const stop = (e: unknown): void => {
    failure ??= e;
    ex.destroy(e instanceof Error ? e : new Error(String(e)));
  };
  input.on('error', stop);
  tap.on('error', stop);
  input.pipe(tap).pipe(ex);
  const seen = new Map<string, Seen>();
  let index = 0;
  try {
    for await (const stream of ex) {
      const header = stream.header;
      const bodyStart = stream.offset + BLOCK;
      if (tap.endedByZeros) throw new TarRejection('ambiguous_archive', `entry ${index + 1} follows megabytes of zeros (Go ends the archive there)`);
      const go = goReading(tap.region(bodyStart), index);
      const entry = checkEntry(go, seen, opts, index);
      // tar-stream's own reading must match Go's on what matters for the framing and the checks.
      const tsName = header.name;
      const tsLink = header.linkname ?? '';
      const tsBody = header.size === 0 || header.type === 'directory' ? 0 : header.size;
      if (tsName !== go.name || (entry.type === 'symlink' || entry.type === 'hardlink' ? tsLink !== go.linkname : false) || tsBody !== go.bodySize) {
        throw new TarRejection('ambiguous_archive', `entry ${index + 1}: tar readers disagree ('${tsName}' vs '${go.name}')`);
      }
      tap.advance(bodyStart + go.bodySize + pad(go.bodySize));
      index++;
      let it: AsyncIterator<Buffer> | null = null;
      let done = false;
      const pull = async (): Promise<IteratorResult<Buffer>> => {
        if (done) return { done: true, value: undefined };
        it ??= stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (err) {
          throw asFormatError(failure ?? err);
        }
        if (r.done) done = true;
        return r;
      };
      // A consumer's early return must not destroy the entry stream: that would destroy the whole extract.
      const body: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: pull, return: async () => ({ done: true, value: undefined }) }) };
      yield { entry, body };
      // Whatever the caller left unread is skipped (tar-stream needs the body drained to go on).
      while (!(await pull()).done);
    }
    if (failure) throw failure;
    if (!tap.tailIsZero()) throw new TarRejection('ambiguous_archive', 'data after the last entry that is not the end-of-archive marker');
  } catch (err) {
    throw asFormatError(failure ?? err);
  } finally {
    input.unpipe(tap);
    tap.unpipe(ex);
    input.destroy();
    tap.destroy();
    ex.destroy();
  }
}

/** True when a block is a tar header with a valid checksum, or a zero block (an empty tar): how layers are told apart. */
export function isTarHeaderBlock(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  if (isZero(block.subarray(0, BLOCK))) return true;
  try {
    return checksumOk(block.subarray(0, BLOCK));
  } catch {
    return false;
  }
}
