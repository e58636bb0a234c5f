import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const SANDBOX_UID = 65534;
const SANDBOX_GID = 65534;
// Bounds kernel memory spent on inodes, which tmpfs's size= does not count.
const OUTPUT_MAX_INODES = 65536;

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
        'tmpfs',
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

/**
 * Turns the output dir back into a plain host directory the worker can read safely: copies regular files and
 * directories out of the tmpfs and unmounts it. Symlinks, FIFOs, sockets and devices are dropped in both modes,
 * so a sandbox cannot make the worker read or block on host paths through /output.
 */
export async function releaseOutputDir(dir: string): Promise<void> {
  if (await isMountPoint(dir)) {
    const staging = await fs.mkdtemp(join(dirname(dir), '.assay-output-'));
    try {
      await copyRegular(dir, staging);
      await unmount(dir);
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(staging, dir);
    } catch (err) {
      await fs.rm(staging, { recursive: true, force: true });
      throw err;
    }
    return;
  }
  // Nothing to release when preparation never got as far as creating the dir.
  if (!(await fs.stat(dir).catch(() => null))) return;
  await dropNonRegular(dir);
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

async function copyRegular(from: string, to: string): Promise<void> {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) {
      await fs.mkdir(dst, { mode: 0o700 });
      await copyRegular(src, dst);
    } else if (entry.isFile()) {
      await fs.copyFile(src, dst);
    }
  }
}

async function dropNonRegular(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await dropNonRegular(p);
    else if (!entry.isFile()) await fs.rm(p, { force: true });
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

/** Reads a file the sandbox wrote without following links it may have planted; null when absent, not a regular file or over capBytes. */
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
    if (!st.isFile() || st.size > capBytes) return null;
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
