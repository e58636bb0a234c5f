import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { removeTree } from './output-dir';

// Work directories of sandbox runs: one fresh directory per attempt under the worker's own root, so a stale mount
// left by a killed worker can never sit at the path a retry uses, and a sweep at start can remove all of it.

const exec = promisify(execFile);

/** Mount points at or under root, deepest first, read from /proc/self/mountinfo (field 5, octal-escaped). */
export async function mountsUnder(root: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const base = resolve(root);
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const target = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (target === base || target.startsWith(base + sep)) found.push(target);
  }
  // Deepest first, so a mount is never detached while another one sits on top of it.
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything mounted at or under root (lazily when busy); returns what it unmounted. */
export async function unmountUnder(root: string): Promise<string[]> {
  const done: string[] = [];
  for (const target of await mountsUnder(root)) {
    try {
      await exec('umount', [target]);
    } catch {
      await exec('umount', ['-l', target]);
    }
    done.push(target);
  }
  return done;
}

/** A fresh directory for one attempt: <root>/<name>-<random>, private to the worker until the run opens it up. */
export async function createWorkDir(root: string, name: string): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(name)) throw new Error(`invalid work dir name: ${name}`);
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  return fs.mkdtemp(join(root, `${name}-`));
}

/** Removes a work dir and everything mounted under it, whatever the depth. Throws when something is left. */
export async function removeWorkDir(root: string, dir: string): Promise<{ unmounted: string[] }> {
  const abs = resolve(dir);
  if (!abs.startsWith(resolve(root) + sep)) throw new Error(`refusing to remove ${dir}: not under the work root ${root}`);
  const unmounted = await unmountUnder(abs);
  await removeTree(abs);
  if (await fs.lstat(abs).catch(() => null)) throw new Error(`work dir ${abs} is still there after removal`);
  return { unmounted };
}

/** What a dead incarnation of this worker left under its root: unmounts all of it and removes every entry. */
export async function sweepWorkRoot(root: string): Promise<{ unmounted: string[]; removed: string[] }> {
  const unmounted = await unmountUnder(root);
  const removed: string[] = [];
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    await removeTree(join(root, name));
    removed.push(join(root, name));
  }
  return { unmounted, removed };
}
