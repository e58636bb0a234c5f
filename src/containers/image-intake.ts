import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isTarHeaderBlock, readTar, TarFormatError, TarRejection, type TarEntry } from './tar-reader';

// Inspects a vendor's `docker save` tarball by streaming it once, before anything reaches the Docker engine:
// nothing is extracted, and no size the archive declares is trusted (unpacked bytes are counted as they inflate).
// Supports both layouts: Docker <= 24 (`<id>/layer.tar`, `<id>.json`) and OCI (`blobs/sha256/<hex>`, Docker 25+).

export type ImageIntakeCode =
  | 'not_a_docker_archive'
  | 'multiple_images'
  | 'wrong_architecture'
  | 'runs_as_root'
  | 'unresolvable_user'
  | 'no_entrypoint'
  | 'path_traversal'
  | 'too_large'
  | 'decompression_bomb'
  | 'reserved_tag'
  /** An entry dockerd's reader could read otherwise than the intake's (names, framing, types): refused outright. */
  | 'ambiguous_archive'
  /** The same name twice in the outer archive or in one layer. */
  | 'duplicate_entry'
  /** A device node or FIFO in a layer. */
  | 'special_file'
  /** A setuid or setgid file, or one carrying file capabilities (security.capability), in a layer. */
  | 'setuid_file'
  /** dockerd refused an archive the intake accepted (not an infrastructure fault): the vendor's image, not Assay. */
  | 'load_failed';

export interface ImageIntakeLimits {
  /** Cap on the sum of all layers' unpacked (inflated tar) bytes. */
  maxUnpackedBytes: number;
  /** A gzip layer may inflate to at most this many times its compressed size. */
  maxLayerCompressionRatio: number;
  /** Docker's name for the host architecture; see hostArchitecture(). */
  expectedArchitecture: string;
  /**
   * Cap on all JSON metadata (manifest, config, legacy per-layer json) and account files (/etc/passwd, /etc/group)
   * held in memory for one archive, together. Default 8 MiB. Nothing else is buffered.
   */
  maxMetadataBytes?: number;
  /** Entries in the outer archive (a docker save of 127 layers has about 400). Default 10,000. */
  maxArchiveEntries?: number;
  /** Entries in one layer; their names are kept for the duplicate and link checks. Default 1,000,000. */
  maxLayerEntries?: number;
  /**
   * A gzip stream may always inflate to this many bytes, whatever its ratio. Small layers are mostly tar headers
   * and end blocks (zeros): a 150-byte gzip of a `RUN mkdir` layer inflates 50x and is no bomb. Default 16 MiB.
   */
  bombFloorBytes?: number;
}

export interface InspectedLayer {
  /** Where the blob is in the archive (links resolved). */
  path: string;
  /** sha256 of the layer blob as stored in the archive. */
  digest: string;
  /** sha256 of the uncompressed layer tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  compressed: boolean;
  unpackedBytes: number;
}

export interface InspectedImage {
  /** sha256 of the image config: the image ID `docker load` will report. */
  configDigest: string;
  /** Where the config is in the archive (links resolved). */
  configPath: string;
  repoTags: string[];
  architecture: string;
  os: string;
  /** Config.User as declared. */
  user: string;
  /** The numeric identity the sandbox runs it as (names resolved through the image's own /etc/passwd, /etc/group). */
  runAs: { uid: number; gid: number };
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  layers: InspectedLayer[];
  unpackedBytes: number;
}

export type ImageIntakeResult = { ok: true; image: InspectedImage } | { ok: false; code: ImageIntakeCode; message: string };

/** Docker's GOARCH-style name for this process's architecture (process.arch 'x64' -> 'amd64'). */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}

const DEFAULT_MAX_METADATA = 8 << 20;
const DEFAULT_BOMB_FLOOR = 16 << 20;
/** Repositories under this namespace are the facility's own; a vendor archive may not name one. */
const RESERVED_NAMESPACE = 'docker.io/assay/';
const DEFAULT_MAX_ARCHIVE_ENTRIES = 10_000;
const DEFAULT_MAX_LAYER_ENTRIES = 1_000_000;

/**
 * A reference as Docker normalises it (reference.ParseNormalizedNamed): docker.io and index.docker.io are one
 * registry, a one-part name is library/<name>. Lower-cased, since Docker refuses upper case outright.
 */
export function normaliseReference(ref: string): string {
  let r = ref.trim().toLowerCase();
  const slash = r.indexOf('/');
  const first = slash === -1 ? '' : r.slice(0, slash);
  let domain = 'docker.io';
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    r = r.slice(slash + 1);
  }
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !r.includes('/')) r = `library/${r}`;
  return `${domain}/${r}`;
}

/** True for a tag Docker would resolve into the facility's reserved namespace, however it is spelled. */
export function isReservedTag(tag: string): boolean {
  return normaliseReference(tag).startsWith(RESERVED_NAMESPACE);
}
const MAX_ACCOUNT_FILE = 256 << 10;
// Slack for the outer .tar.gz: headers and JSON on top of the layers' own bytes.
const OUTER_SLACK_BYTES = 64 << 20;

class IntakeFailure extends Error {
  constructor(
    readonly code: ImageIntakeCode,
    message: string,
  ) {
    super(message);
  }
}

interface LayerProblem {
  code: ImageIntakeCode;
  /** Message without the "layer N (digest)" prefix, added once the manifest says which layer it is. */
  detail: string;
}

interface BlobResult {
  digest: string;
  kind: 'layer' | 'metadata' | 'other';
  compressed: boolean;
  diffId?: string;
  unpackedBytes: number;
  problem?: LayerProblem;
  text?: Buffer;
  /** Archive path of the blob. */
  path: string;
  /** /etc/passwd and /etc/group as this layer leaves them: string = written, null = deleted (whiteout). */
  passwd?: string | null;
  group?: string | null;
}

/** Pulls an entry's body through a sha256, whoever consumes it; `return` does not close it, so it can be drained. */
class HashedBody implements AsyncIterable<Buffer> {
  private readonly hash = createHash('sha256');
  private readonly head: Buffer[] = [];
  private ended = false;
  private readonly body: AsyncIterator<Buffer>;

  constructor(body: AsyncIterable<Buffer>) {
    this.body = body[Symbol.asyncIterator]();
  }

  /** Reads until at least n bytes are buffered (or the body ends); returns what is buffered. */
  async peek(n: number): Promise<Buffer> {
    let have = this.head.reduce((s, b) => s + b.length, 0);
    while (have < n && !this.ended) {
      const c = await this.pull();
      if (!c) break;
      this.head.push(c);
      have += c.length;
    }
    return Buffer.concat(this.head);
  }

  private async pull(): Promise<Buffer | null> {
    if (this.ended) return null;
    const r = await this.body.next();
    if (r.done) {
      this.ended = true;
      return null;
    }
    this.hash.update(r.value);
    return r.value;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    const h = this.head.shift();
    if (h) return { done: false, value: h };
    const c = await this.pull();
    return c ? { done: false, value: c } : { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return { next: () => this.next(), return: async () => ({ done: true, value: undefined }) };
  }

  async drainDigest(): Promise<string> {
    this.head.length = 0;
    while (await this.pull());
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Streams a docker-save tarball (.tar or .tar.gz) and decides whether it may be loaded. Reads the source to its
 * end unless the archive itself is malformed or a size limit on the outer archive is passed.
 */
export async function inspectImageTarball(
  source: AsyncIterable<Buffer | Uint8Array | string> | Readable,
  limits: ImageIntakeLimits,
): Promise<ImageIntakeResult> {
  const state: ScanState = { total: 0, buffered: 0, blobs: new Map(), aliases: new Map(), firstProblem: null };
  let cleanup: (() => void) | undefined;
  try {
    const opened = await openOuter(source, limits);
    if (!opened) return fail('not_a_docker_archive', 'the upload is empty');
    cleanup = opened.cleanup;
    await scanOuter(opened.src, limits, state);
    return { ok: true, image: await decide(state, limits) };
  } catch (err) {
    if (err instanceof IntakeFailure) return fail(err.code, err.message);
    if (err instanceof TarRejection) return fail(err.code, `the archive: ${err.message}`);
    if (err instanceof TarFormatError) return fail('not_a_docker_archive', `not a tar archive: ${err.message}`);
    if (isZlibError(err)) return fail('not_a_docker_archive', `corrupt gzip stream: ${(err as Error).message}`);
    throw err;
  } finally {
    cleanup?.();
  }
}

function fail(code: ImageIntakeCode, message: string): ImageIntakeResult {
  return { ok: false, code, message };
}

function isZlibError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && err.code.startsWith('Z_');
}

interface ScanState {
  total: number;
  /** Bytes of JSON metadata and account files held in memory, against maxMetadataBytes. */
  buffered: number;
  blobs: Map<string, BlobResult>;
  /** Outer-archive links (Docker 25+ links `<id>/layer.tar` to its blob): path -> target path. */
  aliases: Map<string, string>;
  firstProblem: { path: string; problem: LayerProblem } | null;
}

const toBuffer = (c: Buffer | Uint8Array | string): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c));

async function openOuter(
  source: AsyncIterable<Buffer | Uint8Array | string> | Readable,
  limits: ImageIntakeLimits,
): Promise<{ src: AsyncIterable<Buffer>; cleanup: () => void } | null> {
  const it = (source as AsyncIterable<Buffer | Uint8Array | string>)[Symbol.asyncIterator]();
  let first = Buffer.alloc(0);
  while (first.length < 2) {
    const r = await it.next();
    if (r.done) break;
    first = Buffer.concat([first, toBuffer(r.value)]);
  }
  if (first.length === 0) return null;
  let consumed = 0;
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      consumed += first.length;
      yield first;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        const b = toBuffer(r.value);
        consumed += b.length;
        yield b;
      }
    } finally {
      await it.return?.();
    }
  }
  if (first[0] !== 0x1f || first[1] !== 0x8b) return { src: rest(), cleanup: () => undefined };
  // .tar.gz: the outer archive inflates too, so it gets its own ratio and size guard.
  const input = Readable.from(rest());
  const gunzip = createGunzip();
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const maxOuter = limits.maxUnpackedBytes + OUTER_SLACK_BYTES;
  async function* guarded(): AsyncGenerator<Buffer> {
    let inflated = 0;
    for await (const c of gunzip as AsyncIterable<Buffer>) {
      inflated += c.length;
      if (inflated > maxOuter) throw new IntakeFailure('too_large', `the archive inflates past ${maxOuter} bytes`);
      if (inflated > Math.max(limits.maxLayerCompressionRatio * consumed, limits.bombFloorBytes ?? DEFAULT_BOMB_FLOOR)) {
        throw new IntakeFailure('decompression_bomb', `the archive inflates more than ${limits.maxLayerCompressionRatio}x its compressed size`);
      }
      yield c;
    }
  }
  return {
    src: guarded(),
    cleanup: () => {
      input.destroy();
      gunzip.destroy();
    },
  };
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/** JSON metadata starts with `{` or `[` (after blanks); anything else is never held in memory. */
function looksLikeJson(head: Buffer): boolean {
  for (const b of head) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b || b === 0x5b;
  }
  return false;
}

function budget(state: ScanState, limits: ImageIntakeLimits, bytes: number, what: string): void {
  const max = limits.maxMetadataBytes ?? DEFAULT_MAX_METADATA;
  if (state.buffered + bytes > max) throw new IntakeFailure('too_large', `${what} would take the archive's metadata past ${max} bytes`);
  state.buffered += bytes;
}

async function scanOuter(src: AsyncIterable<Buffer>, limits: ImageIntakeLimits, state: ScanState): Promise<void> {
  for await (const { entry, body } of readTar(src, { what: 'archive', maxEntries: limits.maxArchiveEntries ?? DEFAULT_MAX_ARCHIVE_ENTRIES })) {
    const path = entry.path;
    if (entry.type === 'symlink') {
      state.aliases.set(path, posix.normalize(posix.join(posix.dirname(path), entry.linkname)));
      continue;
    }
    if (entry.type === 'hardlink') {
      state.aliases.set(path, normalise(posix.normalize(entry.linkname)));
      continue;
    }
    if (entry.type !== 'file') continue;
    const hb = new HashedBody(body);
    const head = await hb.peek(512);
    const gz = head[0] === 0x1f && head[1] === 0x8b;
    const tar = !gz && head.length >= 512 && isTarHeaderBlock(head.subarray(0, 512));
    let result: BlobResult;
    if ((gz || tar) && !state.firstProblem) {
      result = await scanLayer(hb, gz, entry, limits, state);
    } else if (gz || tar) {
      // A layer already failed: the verdict is made, only the digest of what follows is still needed.
      result = { path, digest: '', kind: 'layer', compressed: gz, unpackedBytes: 0 };
    } else if (looksLikeJson(head)) {
      // Only JSON is kept (manifest, config, legacy per-layer json), and only within one budget for the archive.
      budget(state, limits, entry.size, `'${path}' (${entry.size} bytes)`);
      const chunks: Buffer[] = [];
      for await (const c of hb) chunks.push(c);
      result = { path, digest: '', kind: 'metadata', compressed: false, unpackedBytes: 0, text: Buffer.concat(chunks) };
    } else {
      result = { path, digest: '', kind: 'other', compressed: false, unpackedBytes: 0 };
    }
    result.digest = await hb.drainDigest();
    state.blobs.set(path, result);
    if (result.problem && !state.firstProblem) state.firstProblem = { path, problem: result.problem };
  }
}

async function scanLayer(hb: HashedBody, gz: boolean, entry: TarEntry, limits: ImageIntakeLimits, state: ScanState): Promise<BlobResult> {
  const result: BlobResult = { path: entry.path, digest: '', kind: 'layer', compressed: gz, unpackedBytes: 0 };
  const diff = createHash('sha256');
  let input: Readable | undefined;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let stream: AsyncIterable<Buffer> = hb;
  if (gz) {
    input = Readable.from(hb);
    gunzip = createGunzip();
    const g = gunzip;
    input.on('error', (e) => g.destroy(e));
    input.pipe(gunzip);
    stream = gunzip;
  }
  const ratioCap = Math.max(limits.maxLayerCompressionRatio * entry.size, limits.bombFloorBytes ?? DEFAULT_BOMB_FLOOR);
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const c of stream) {
      result.unpackedBytes += c.length;
      diff.update(c);
      if (gz && (result.unpackedBytes > ratioCap || result.unpackedBytes > limits.maxUnpackedBytes)) {
        throw new IntakeFailure(
          'decompression_bomb',
          result.unpackedBytes > limits.maxUnpackedBytes
            ? `gzip layer of ${entry.size} bytes inflates past the ${limits.maxUnpackedBytes}-byte limit (stopped there)`
            : `gzip layer of ${entry.size} bytes inflates past ${limits.maxLayerCompressionRatio}x its size (stopped at ${result.unpackedBytes} bytes)`,
        );
      }
      if (state.total + result.unpackedBytes > limits.maxUnpackedBytes) {
        throw new IntakeFailure('too_large', `the image unpacks to more than ${limits.maxUnpackedBytes} bytes (counted while reading)`);
      }
      yield c;
    }
  }
  try {
    // tar-stream reads the layer to the end of its bytes, past the end-of-archive blocks: all of it is hashed.
    for await (const { entry: e, body } of readTar(counted(), { what: 'layer', maxEntries: limits.maxLayerEntries ?? DEFAULT_MAX_LAYER_ENTRIES })) {
      const name = e.path;
      if (name === 'etc/passwd' || name === 'etc/group') {
        const key = name === 'etc/passwd' ? 'passwd' : 'group';
        if (e.type === 'file' && e.size <= MAX_ACCOUNT_FILE) {
          budget(state, limits, e.size, `/${name} (${e.size} bytes)`);
          const chunks: Buffer[] = [];
          for await (const c of body) chunks.push(c);
          result[key] = Buffer.concat(chunks).toString('utf8');
        } else {
          result[key] = null;
        }
      } else if (name === 'etc/.wh.passwd') result.passwd = null;
      else if (name === 'etc/.wh.group') result.group = null;
      else if (name === 'etc/.wh..wh..opq') {
        result.passwd ??= null;
        result.group ??= null;
      }
    }
    result.diffId = `sha256:${diff.digest('hex')}`;
  } catch (err) {
    if (err instanceof IntakeFailure) result.problem = { code: err.code, detail: err.message };
    else if (err instanceof TarRejection) result.problem = { code: err.code, detail: err.message };
    else if (err instanceof TarFormatError) result.problem = { code: 'not_a_docker_archive', detail: `not a tar layer: ${err.message}` };
    else if (isZlibError(err)) result.problem = { code: 'not_a_docker_archive', detail: `corrupt gzip layer: ${(err as Error).message}` };
    else throw err;
  } finally {
    input?.destroy();
    gunzip?.destroy();
  }
  state.total += result.unpackedBytes;
  return result;
}

function shortDigest(d: string): string {
  return d ? `${d.slice(0, 'sha256:'.length + 12)}…` : 'unknown digest';
}

function resolveAlias(state: ScanState, path: string): string {
  let p = normalise(path);
  for (let i = 0; i < 8 && state.aliases.has(p); i++) p = state.aliases.get(p) ?? p;
  return p;
}

function parseJson(buf: Buffer | undefined, what: string): unknown {
  if (!buf) throw new IntakeFailure('not_a_docker_archive', `${what} is missing`);
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    throw new IntakeFailure('not_a_docker_archive', `${what} is not valid JSON`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

async function decide(state: ScanState, limits: ImageIntakeLimits): Promise<InspectedImage> {
  const manifest = parseJson(state.blobs.get(resolveAlias(state, 'manifest.json'))?.text, 'manifest.json');
  if (!Array.isArray(manifest) || manifest.length === 0) throw new IntakeFailure('not_a_docker_archive', 'manifest.json lists no image');
  if (manifest.length > 1) throw new IntakeFailure('multiple_images', `manifest.json lists ${manifest.length} images; upload exactly one`);
  const m: unknown = manifest[0];
  if (!isRecord(m) || typeof m.Config !== 'string' || !Array.isArray(m.Layers)) {
    throw new IntakeFailure('not_a_docker_archive', 'manifest.json entry lacks Config or Layers');
  }
  const layerPaths = strings(m.Layers).map((p) => resolveAlias(state, p));
  // docker load applies the archive's tags: one naming a facility image would re-point it at the vendor's code.
  // (Tags are stripped before loading anyway; a facility name here is refused as a plain sign of intent.)
  const reserved = strings(m.RepoTags).find(isReservedTag);
  if (reserved) throw new IntakeFailure('reserved_tag', `tag '${reserved}' is in a namespace reserved for the facility's own images; retag it`);

  if (state.firstProblem) {
    const { path, problem } = state.firstProblem;
    const index = layerPaths.indexOf(path);
    const digest = state.blobs.get(path)?.digest ?? '';
    const where = index >= 0 ? `layer ${index + 1} (${shortDigest(digest)})` : `blob '${path}' (${shortDigest(digest)})`;
    throw new IntakeFailure(problem.code, `${where}: ${problem.detail}`);
  }

  const configPath = resolveAlias(state, m.Config);
  const configBlob = state.blobs.get(configPath);
  const config = parseJson(configBlob?.text, `image config '${m.Config}'`);
  if (!isRecord(config) || !configBlob) throw new IntakeFailure('not_a_docker_archive', 'image config is not an object');
  const rootfs = isRecord(config.rootfs) ? config.rootfs : {};
  const diffIds = strings(rootfs.diff_ids);

  const layers: InspectedLayer[] = [];
  const accounts: { passwd: string | null; group: string | null } = { passwd: null, group: null };
  for (const [i, p] of layerPaths.entries()) {
    const blob = state.blobs.get(p);
    if (!blob || blob.kind !== 'layer' || !blob.diffId) {
      throw new IntakeFailure('not_a_docker_archive', `layer ${i + 1} ('${p}') is missing or not a tar/gzip layer`);
    }
    if (diffIds[i] !== blob.diffId) {
      throw new IntakeFailure('not_a_docker_archive', `layer ${i + 1} (${shortDigest(blob.digest)}) does not match the config's diff_id ${diffIds[i] ?? '(none)'}`);
    }
    if (blob.passwd !== undefined) accounts.passwd = blob.passwd;
    if (blob.group !== undefined) accounts.group = blob.group;
    layers.push({ path: p, digest: blob.digest, diffId: blob.diffId, compressed: blob.compressed, unpackedBytes: blob.unpackedBytes });
  }
  if (diffIds.length !== layers.length) {
    throw new IntakeFailure('not_a_docker_archive', `the config lists ${diffIds.length} layers, the manifest ${layers.length}`);
  }

  const architecture = typeof config.architecture === 'string' ? config.architecture : '';
  const os = typeof config.os === 'string' ? config.os : '';
  if (architecture !== limits.expectedArchitecture || os !== 'linux') {
    throw new IntakeFailure('wrong_architecture', `image is ${os || '?'}/${architecture || '?'}; this facility runs linux/${limits.expectedArchitecture}`);
  }
  const c = isRecord(config.config) ? config.config : {};
  const user = typeof c.User === 'string' ? c.User : '';
  const runAs = resolveUser(user, accounts);
  const entrypoint = strings(c.Entrypoint);
  const cmd = strings(c.Cmd);
  if (entrypoint.length === 0 && cmd.length === 0) {
    throw new IntakeFailure('no_entrypoint', 'the image has neither ENTRYPOINT nor CMD; it must run its algorithm on its own');
  }
  return {
    configDigest: configBlob.digest,
    configPath,
    repoTags: strings(m.RepoTags),
    architecture,
    os,
    user,
    runAs,
    entrypoint,
    cmd,
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : '',
    layers,
    unpackedBytes: layers.reduce((s, l) => s + l.unpackedBytes, 0),
  };
}

/** True for the Config.User values that mean root before any lookup. */
export function isRootUserSpec(user: string): boolean {
  const u = user.trim();
  const name = u.split(':')[0] ?? '';
  return u === '' || name === 'root' || name === '0' || /^0+$/.test(name);
}

/**
 * Turns Config.User into numbers. Names are looked up in the image's own /etc/passwd and /etc/group (as the
 * layers leave them); a name that is not there is refused rather than guessed. Without a group, the user's primary
 * group from /etc/passwd, else 65534 (nogroup): never Docker's fallback of gid 0.
 */
export function resolveUser(user: string, accounts: { passwd: string | null; group: string | null }): { uid: number; gid: number } {
  if (isRootUserSpec(user)) {
    throw new IntakeFailure('runs_as_root', `the image runs as root (USER '${user}'); set a non-root USER, e.g. USER 10001:10001`);
  }
  const [u = '', g] = user.trim().split(':', 2);
  const passwd = (accounts.passwd ?? '').split('\n').map((l) => l.split(':'));
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = passwd.find((r) => r[2] === u);
    primaryGid = row && /^\d+$/.test(row[3] ?? '') ? Number(row[3]) : undefined;
  } else {
    const row = passwd.find((r) => r[0] === u);
    if (!row || !/^\d+$/.test(row[2] ?? '')) {
      throw new IntakeFailure('unresolvable_user', `USER '${user}': '${u}' is not in the image's /etc/passwd; use a numeric USER uid:gid`);
    }
    uid = Number(row[2]);
    primaryGid = /^\d+$/.test(row[3] ?? '') ? Number(row[3]) : undefined;
  }
  let gid: number;
  if (g === undefined || g === '') gid = primaryGid ?? 65534;
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const row = (accounts.group ?? '').split('\n').map((l) => l.split(':')).find((r) => r[0] === g);
    if (!row || !/^\d+$/.test(row[2] ?? '')) {
      throw new IntakeFailure('unresolvable_user', `USER '${user}': group '${g}' is not in the image's /etc/group; use a numeric gid`);
    }
    gid = Number(row[2]);
  }
  if (uid === 0 || gid === 0) {
    throw new IntakeFailure('runs_as_root', `USER '${user}' resolves to uid ${uid}, gid ${gid}: root; set a non-root USER and group`);
  }
  return { uid, gid };
}
