import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { escapeLogBytes } from './capped-log';

const exec = promisify(execFile);
const SANDBOX_UID = 65534;
const SANDBOX_GID = 65534;
// Bounds kernel memory spent on inodes, which tmpfs's size= does not count.
const OUTPUT_MAX_INODES = 65536;

/** Source of every /output tmpfs, as /proc/self/mountinfo shows it. */
export const OUTPUT_MOUNT_SOURCE = 'assay-output';

export type OutputCapMode = 'tmpfs' | 'poll';

export interface PreparedOutputDir {
  dir: string;
  capBytes: number;
  mode: OutputCapMode;
}

/**
 * Prepares the host directory mounted at /output.
 * - 'tmpfs' (root): a size-limited tmpfs is mounted on it, so the kernel enforces the cap and a write past it
 *   fails with ENOSPC inside the sandbox.
 * - 'poll' (not root, cannot mount): a plain directory writable by the sandbox user; the adapter measures it while
 *   the container runs and kills it past the cap. Weaker: a fast writer can overshoot by one poll interval.
 */
export async function prepareOutputDir(
  dir: string,
  capBytes: number,
  mode: OutputCapMode,
  owner: { uid: number; gid: number } = { uid: SANDBOX_UID, gid: SANDBOX_GID },
): Promise<PreparedOutputDir> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await fs.readdir(dir)).length > 0) throw new Error(`output dir ${dir} is not empty`);
  if (mode === 'tmpfs') {
    if (!(await isMountPoint(dir))) {
      await exec('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=${capBytes},nr_inodes=${OUTPUT_MAX_INODES},mode=0700,uid=${owner.uid},gid=${owner.gid},nosuid,nodev,noexec`,
        // The source name marks it as Assay's in /proc/self/mountinfo (see sweepWorkRoot).
        OUTPUT_MOUNT_SOURCE,
        dir,
      ]);
    }
  } else if (process.getuid?.() === 0) {
    await fs.chown(dir, owner.uid, owner.gid);
  } else {
    // Without root the sandbox user can only write here if everyone can; the dir's parent should be private.
    await fs.chmod(dir, 0o777);
  }
  return { dir, capBytes, mode };
}

/** Bytes used under the output dir: filesystem usage for tmpfs, a walk of allocated blocks otherwise. */
export async function outputBytesUsed(prepared: PreparedOutputDir): Promise<number> {
  if (prepared.mode === 'tmpfs') {
    const s = await fs.statfs(prepared.dir);
    return (s.blocks - s.bfree) * s.bsize;
  }
  return treeBytes(prepared.dir);
}

/** True when the sandbox used (nearly) all of its output space, i.e. a write may have failed for want of it. */
export async function outputCapReached(prepared: PreparedOutputDir): Promise<boolean> {
  if (prepared.mode === 'tmpfs') {
    const s = await fs.statfs(prepared.dir);
    // A write that does not fit fills the tmpfs to its last page before failing with ENOSPC.
    return s.bavail * s.bsize < 2 * s.bsize || s.ffree === 0;
  }
  return (await treeBytes(prepared.dir)) >= prepared.capBytes;
}

/** Deeper than this (or a relative path longer than OUTPUT_MAX_PATH_BYTES) is refused, long before PATH_MAX. */
export const OUTPUT_MAX_DEPTH = 32;
export const OUTPUT_MAX_PATH_BYTES = 1024;

export type OutputRefusal = 'symlink' | 'fifo' | 'socket' | 'device' | 'hardlink' | 'unreadable' | 'too_deep' | 'too_many_entries' | 'over_cap';

const SLASH = Buffer.from('/');

/** What release found in /output. Anything refused is left behind (never copied) and makes the run invalid_output. */
export interface ReleasedOutput {
  /** Apparent size (st_size, holes included) of the regular files seen; what a reader would get. */
  apparentBytes: number;
  /** The first refusal, worded for the vendor; null when the tree was plain files and directories under the cap. */
  refused: { kind: OutputRefusal; path: string; detail: string } | null;
}

/**
 * Turns the output dir back into a plain host directory the worker can read safely: copies regular files and
 * directories (at most capBytes of apparent size, so a sparse file cannot fill the host disk) into a fresh
 * directory, unmounts the tmpfs (in every case, also when the copy throws) and puts the copy in its place.
 * Symlinks, FIFOs, sockets, devices, hard-linked files, trees too deep or too large are refused, never copied,
 * never followed, never opened in a way that blocks.
 * Call only after the container is gone: nothing can change the tree while it is read.
 */
export async function releaseOutputDir(dir: string, capBytes: number): Promise<ReleasedOutput> {
  const mounted = await isMountPoint(dir);
  if (!mounted && !(await fs.lstat(dir).catch(() => null))) return { apparentBytes: 0, refused: null };
  const staging = await fs.mkdtemp(join(dirname(dir), '.assay-output-'));
  let released: ReleasedOutput | undefined;
  let failure: unknown;
  try {
    const walk = new OutputWalk(capBytes);
    await walk.copy(Buffer.from(dir), Buffer.from(staging), '', 0, 0);
    released = { apparentBytes: walk.apparentBytes, refused: walk.refused };
  } catch (err) {
    failure = err;
  }
  // Unmounted on every path: a copy that throws must not leave the tmpfs on the host.
  if (mounted) await unmount(dir).catch((err: unknown) => (failure ??= err));
  if (failure !== undefined || !released) {
    await removeTree(staging).catch(() => undefined);
    throw failure;
  }
  await removeTree(dir).catch(async (err: unknown) => {
    // Not root (the 'poll' mode): the vendor can leave a directory the worker may neither enter nor empty (mode 500 or
    // 000, owned by the sandbox's uid). The copy is already made; the tree is moved aside in the worker's own batch
    // dir, where the work dir's removal (which logs and never throws) or the start-up sweep meets it. Not Assay's
    // fault, so not an internal failure.
    const aside = join(dirname(dir), `.assay-output-left-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
    await fs.rename(dir, aside).catch(() => {
      throw err;
    });
  });
  await fs.rename(staging, dir);
  return released;
}

class OutputWalk {
  apparentBytes = 0;
  refused: ReleasedOutput['refused'] = null;
  private copiedBytes = 0;
  private entries = 0;

  constructor(private readonly capBytes: number) {}

  private refuse(kind: OutputRefusal, rel: string, detail: string): void {
    this.refused ??= { kind, path: `/output/${rel}`, detail: `/output/${rel}: ${detail}` };
  }

  /**
   * Paths are bytes: a name that is not UTF-8 (the sandbox may pick any) must not be decoded into another name.
   * rel is the escaped form for messages; relBytes its true length.
   */
  async copy(from: Buffer, to: Buffer, rel: string, relBytes: number, depth: number): Promise<void> {
    let names: Buffer[];
    try {
      names = await fs.readdir(from, { encoding: 'buffer' });
    } catch (err) {
      // A directory the sandbox made unreadable (mode 000, worker not root) is the vendor's, not Assay's, fault.
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      return this.refuse('unreadable', rel || '.', 'a directory the worker may not read');
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${escapeLogBytes(name)}` : escapeLogBytes(name);
      const childBytes = relBytes + (rel ? 1 : 0) + name.length;
      if (++this.entries > OUTPUT_MAX_INODES) {
        this.refuse('too_many_entries', rel || '.', `more than ${OUTPUT_MAX_INODES} entries`);
        return;
      }
      if (childBytes > OUTPUT_MAX_PATH_BYTES || depth >= OUTPUT_MAX_DEPTH) {
        this.refuse('too_deep', childRel.slice(0, 200) + (childRel.length > 200 ? '…' : ''), `nested deeper than ${OUTPUT_MAX_DEPTH} levels or ${OUTPUT_MAX_PATH_BYTES} bytes of path`);
        continue;
      }
      const src = Buffer.concat([from, SLASH, name]);
      const dst = Buffer.concat([to, SLASH, name]);
      const st = await fs.lstat(src);
      if (st.isDirectory()) {
        await fs.mkdir(dst, { mode: 0o700 });
        await this.copy(src, dst, childRel, childBytes, depth + 1);
      } else if (st.isFile()) {
        await this.copyFile(src, dst, childRel);
      } else {
        const kind: OutputRefusal = st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device';
        this.refuse(kind, childRel, `a ${kind === 'fifo' ? 'FIFO' : kind}; only regular files and directories are read from /output`);
      }
    }
  }

  private async copyFile(src: Buffer, dst: Buffer, rel: string): Promise<void> {
    let input: fs.FileHandle;
    try {
      // O_NOFOLLOW: never through a link; O_NONBLOCK: a FIFO in its place cannot hang the worker.
      input = await fs.open(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      return this.refuse('unreadable', rel, 'a file the worker may not read');
    }
    try {
      const st = await input.stat();
      if (!st.isFile()) return this.refuse('device', rel, 'not a regular file');
      if (st.nlink > 1) return this.refuse('hardlink', rel, `a hard link (${st.nlink} names for one file)`);
      this.apparentBytes += st.size;
      if (this.copiedBytes + st.size > this.capBytes) {
        // Apparent size, not allocated blocks: a sparse file reads back as its full length.
        return this.refuse('over_cap', rel, `${this.apparentBytes} bytes (apparent size, holes count) pass the output cap of ${this.capBytes} bytes`);
      }
      const output = await fs.open(dst, 'wx', 0o600);
      try {
        const buf = Buffer.allocUnsafe(Math.min(1 << 16, Math.max(1, st.size)));
        let left = st.size;
        while (left > 0) {
          const { bytesRead } = await input.read(buf, 0, Math.min(buf.length, left), null);
          if (bytesRead === 0) break;
          // A short write (a full disk writes what fits first) is retried until it fails: never a silent truncation.
          for (let off = 0; off < bytesRead; ) off += (await output.write(buf, off, bytesRead - off)).bytesWritten;
          left -= bytesRead;
          this.copiedBytes += bytesRead;
        }
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
  }
}

/** rm -rf that also removes trees deeper than PATH_MAX (Node's fs.rm walks by path and fails with ENAMETOOLONG). */
export async function removeTree(path: string): Promise<void> {
  try {
    await fs.rm(path, { recursive: true, force: true });
  } catch {
    // coreutils rm walks with openat, whatever the depth; --one-file-system never crosses into a mount.
    await exec('rm', ['-rf', '--one-file-system', '--', path]);
  }
}
async function unmount(dir: string): Promise<void> {
  try {
    await exec('umount', [dir]);
  } catch {
    // Busy (a process still has a file open): detach now, the kernel frees it when the last user goes.
    await exec('umount', ['-l', dir]);
  }
}

export async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [self, parent] = await Promise.all([fs.stat(dir), fs.stat(dirname(dir))]);
    return self.dev !== parent.dev;
  } catch {
    return false;
  }
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(p);
    else {
      const s = await fs.lstat(p).catch(() => null);
      // Allocated blocks, not apparent size: sparse files must not slip past the cap in either direction.
      if (s) total += s.blocks * 512;
    }
  }
  return total;
}

/**
 * The most of a text output (predictions.jsonl, check.json) read into one string, whatever the benchmark's output cap
 * (which may be 10 GiB for image outputs): above it the file is refused as the vendor's invalid output, not read into
 * a string V8 cannot hold (ERR_STRING_TOO_LONG past ~512 MiB, which would be Assay's error and retried).
 */
export const MAX_TEXT_OUTPUT_BYTES = 256 * 1024 * 1024;

/** Reads a file the sandbox wrote without following links it may have planted; null when absent, not a regular file or over capBytes (or MAX_TEXT_OUTPUT_BYTES). */
export async function readCapped(path: string, capBytes: number): Promise<string | null> {
  let handle: fs.FileHandle;
  try {
    const st = await fs.lstat(path);
    if (!st.isFile()) return null;
    // O_NOFOLLOW: a link swapped in between lstat and open is refused, not followed.
    handle = await fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > Math.min(capBytes, MAX_TEXT_OUTPUT_BYTES)) return null;
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

export type OutputFileKind = 'absent' | 'file' | 'not_a_file';

/** What the sandbox left at a path, by lstat (never following a link); call before releaseOutputDir drops links. */
export async function outputFileKind(path: string): Promise<OutputFileKind> {
  const st = await fs.lstat(path).catch(() => null);
  if (!st) return 'absent';
  return st.isFile() ? 'file' : 'not_a_file';
}
