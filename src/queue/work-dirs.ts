import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Mount points at or under `dir`, deepest first (from /proc/self/mounts; octal escapes decoded). */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + sep))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes the work directories an earlier attempt of the same step left behind (a killed worker never reaches its
 * `finally`): every directory in `parent` whose name starts with `prefix`, unmounting any mount under it first.
 * Returns the directories removed. A step calls this before it starts, so each attempt begins from a clean slate.
 */
export async function removeLeftoverWorkDirs(parent: string, prefix: string): Promise<string[]> {
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    for (const m of await mountsUnder(dir)) await exec('umount', ['-l', m]).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Unmounts whatever is mounted under `dir`, then removes it. */
export async function removeWorkDir(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) await exec('umount', ['-l', m]).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
}
