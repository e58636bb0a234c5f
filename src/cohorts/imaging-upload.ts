import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join, resolve, sep } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { DomainError, ErrorCode } from '../common/domain-error';
import { readTar, TarFormatError, TarRejection } from '../containers/tar-reader';
import type { CohortSource } from './imaging-ingest';

// An imaging cohort sent over HTTP (POST /api/cohorts/imaging): one tar archive (optionally gzip-compressed) of the
// same folder the catalogue reads (cohort.yaml at its root, or inside one top-level folder, with the cases table,
// images, masks and lesions it names). The archive is read with the facility's hardened tar reader (the one that
// guards image intake: no traversal, no links, no special files, no entry two readers would see differently) and
// unpacked into a private scratch folder under a byte budget counted as sent and as unpacked, so a sparse or
// zip-bomb archive stops at the limit; the folder is removed whatever happens.

export const COHORT_ARCHIVE_TYPES = ['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip'];
const MAX_ENTRIES = 200_000;
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

const bad = (code: ErrorCode, message: string, field: string, problem: string): DomainError => new DomainError(code, message, [{ field, problem }]);

export interface UnpackedCohort {
  /** The folder holding cohort.yaml. */
  root: string;
  /** cohort.yaml, parsed (not yet validated). */
  descriptor: unknown;
  source: CohortSource;
  files: number;
  bytes: number;
}

/** Counts bytes through a stream and fails past `limit` (the message names which side of the archive overflowed). */
class ByteBudget extends Transform {
  seen = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) done(bad(ErrorCode.PayloadTooLarge, `the cohort archive is larger than the ${this.limit}-byte limit (${this.what})`, 'body', `larger than ${this.limit} bytes`));
    else done(null, chunk);
  }
}

/** A CohortSource over a folder: every path is confined to it (the descriptor's paths come from the sender). */
export function directorySource(root: string): CohortSource {
  const base = resolve(root);
  const inside = (relative: string): string => {
    const path = resolve(base, relative);
    if (!path.startsWith(`${base}${sep}`)) throw bad(ErrorCode.InvalidCohort, `${relative}: outside the cohort folder`, relative, 'outside the cohort folder');
    return path;
  };
  return { read: async (p) => readFile(inside(p)), list: async (folder) => readdir(inside(folder)) };
}

/**
 * Unpacks the request body into `scratch` (created, private) and reads cohort.yaml. Throws a DomainError (4xx) for
 * anything the sender got wrong; the caller removes `scratch` (see withUnpackedCohort).
 */
export async function unpackCohortArchive(req: IncomingMessage, scratch: string, limitBytes: number): Promise<UnpackedCohort> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!COHORT_ARCHIVE_TYPES.includes(type)) {
    throw bad(ErrorCode.UnsupportedMedia, `expected Content-Type application/x-tar or application/gzip, got '${type || 'none'}'`, 'Content-Type', 'must be application/x-tar or application/gzip');
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') throw bad(ErrorCode.UnsupportedMedia, `Content-Encoding '${encoding}' is not accepted (send application/gzip instead)`, 'Content-Encoding', 'must be identity');
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw bad(ErrorCode.PayloadTooLarge, `the cohort archive is larger than the ${limitBytes}-byte limit`, 'body', `larger than ${limitBytes} bytes`);

  await mkdir(scratch, { recursive: true, mode: 0o700 });
  const sent = new ByteBudget(limitBytes, 'as sent');
  let stream: NodeJS.ReadableStream = req.pipe(sent);
  req.on('error', (e) => sent.destroy(e));
  if (type.endsWith('gzip')) {
    const gunzip = createGunzip();
    sent.on('error', (e) => gunzip.destroy(e));
    stream = sent.pipe(gunzip);
  }
  let unpacked = 0;
  let files = 0;
  try {
    for await (const { entry, body } of readTar(stream as AsyncIterable<Buffer>, { maxEntries: MAX_ENTRIES, what: 'archive' })) {
      if (entry.type === 'symlink' || entry.type === 'hardlink') throw bad(ErrorCode.InvalidCohort, `'${entry.name}': links are not accepted in a cohort archive`, entry.name, 'a link');
      const target = resolve(scratch, entry.path);
      if (!target.startsWith(`${resolve(scratch)}${sep}`)) throw bad(ErrorCode.InvalidCohort, `'${entry.name}': outside the archive`, entry.name, 'outside the archive');
      if (entry.type === 'directory') {
        await mkdir(target, { recursive: true, mode: 0o700 });
        continue;
      }
      unpacked += entry.size;
      if (unpacked > limitBytes) throw bad(ErrorCode.PayloadTooLarge, `the cohort archive unpacks to more than the ${limitBytes}-byte limit`, 'body', `unpacks to more than ${limitBytes} bytes`);
      await mkdir(resolve(target, '..'), { recursive: true, mode: 0o700 });
      // 'wx': an entry never overwrites another (the reader refuses duplicates; this holds even if it did not).
      await pipeline(body, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
      files++;
    }
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (err instanceof TarFormatError) throw bad(ErrorCode.ValidationFailed, `body: not a readable tar archive (${err.message})`, 'body', 'not a readable tar archive');
    if (err instanceof TarRejection) throw bad(ErrorCode.InvalidCohort, `body: archive refused (${err.code}): ${err.message}`, 'body', err.code);
    // zlib's errors carry a Z_* code (and come from another realm under jest, so no instanceof).
    const zlib = err as { code?: unknown; message?: unknown };
    if (typeof zlib.code === 'string' && zlib.code.startsWith('Z_')) {
      throw bad(ErrorCode.ValidationFailed, `body: not readable gzip (${String(zlib.message)})`, 'body', 'not readable gzip');
    }
    throw err;
  }
  const root = await descriptorFolder(scratch);
  const descriptorPath = join(root, 'cohort.yaml');
  const size = (await stat(descriptorPath)).size;
  if (size > MAX_DESCRIPTOR_BYTES) throw bad(ErrorCode.InvalidCohort, `cohort.yaml is larger than ${MAX_DESCRIPTOR_BYTES} bytes`, 'cohort.yaml', 'too large');
  let descriptor: unknown;
  try {
    descriptor = parseYaml(await readFile(descriptorPath, 'utf8'), { maxAliasCount: 100 });
  } catch (err) {
    throw bad(ErrorCode.InvalidCohort, `cohort.yaml: not valid YAML (${(err as Error).message.split('\n')[0]})`, 'cohort.yaml', 'not valid YAML');
  }
  return { root, descriptor, source: directorySource(root), files, bytes: unpacked };
}

/** cohort.yaml at the archive's root, or inside its one top-level folder (`tar -c my-cohort/`). */
async function descriptorFolder(scratch: string): Promise<string> {
  const top = await readdir(scratch, { withFileTypes: true });
  if (top.some((d) => d.isFile() && d.name === 'cohort.yaml')) return scratch;
  const dirs = top.filter((d) => d.isDirectory());
  if (top.length === 1 && dirs.length === 1) {
    const inner = join(scratch, dirs[0]!.name);
    if ((await readdir(inner)).includes('cohort.yaml')) return inner;
  }
  throw bad(ErrorCode.InvalidCohort, 'the archive has no cohort.yaml at its root (or inside its one top-level folder)', 'cohort.yaml', 'missing');
}

/** Unpacks into a fresh scratch folder under `scratchRoot`, runs `work`, and removes the folder whatever happens. */
export async function withUnpackedCohort<T>(req: IncomingMessage, scratchRoot: string, limitBytes: number, work: (cohort: UnpackedCohort) => Promise<T>): Promise<T> {
  const scratch = join(scratchRoot, `cohort-upload-${randomUUID()}`);
  try {
    return await work(await unpackCohortArchive(req, scratch, limitBytes));
  } finally {
    await rm(scratch, { recursive: true, force: true });
    // Whatever the sender still has in flight is not read (the connection closes after the answer).
    req.resume();
  }
}
