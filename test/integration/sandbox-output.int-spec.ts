import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { DockerSandboxAdapter } from '../../src/sandbox/docker-sandbox.adapter';
import { OUTPUT_MAX_DEPTH, prepareOutputDir, releaseOutputDir, type ReleasedOutput } from '../../src/sandbox/output-dir';
import { createWorkDir, mountsUnder, removeWorkDir, sweepWorkRoot } from '../../src/sandbox/work-dirs';

// The host side of /output, on a real size-capped tmpfs (the worker runs as root): what the sandbox can leave there
// is planted directly, so each case is exact. The same paths run under Docker in attacks.int-spec.ts.

const exec = promisify(execFile);
const CAP = 1 << 20;
let root: string;
let openServer: Server | undefined;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this suite mounts tmpfs: run it as root, as the worker runs');
  root = await fs.mkdtemp(join(tmpdir(), 'assay-output-int-'));
});

afterAll(async () => {
  if (!root) return;
  for (const m of await mountsUnder(root)) await exec('umount', ['-l', m]).catch(() => undefined);
  await exec('rm', ['-rf', root]);
});

/** A tmpfs /output like a run gets; plant() writes into it as the sandbox would; then it is released. */
async function releaseAfter(plant: (dir: string) => Promise<void>): Promise<{ dir: string; released: ReleasedOutput; work: string }> {
  const work = await createWorkDir(root, 'case');
  const dir = join(work, 'output');
  await prepareOutputDir(dir, CAP, 'tmpfs', { uid: 0, gid: 0 });
  expect(await mountsUnder(work)).toEqual([dir]);
  await plant(dir);
  const released = await releaseOutputDir(dir, CAP);
  // Whatever was found, the tmpfs is gone.
  expect(await mountsUnder(work)).toEqual([]);
  return { dir, released, work };
}

async function hostBytes(dir: string): Promise<number> {
  const { stdout } = await exec('du', ['-sb', '--apparent-size', dir]);
  return Number(stdout.split('\t')[0]);
}

/** Nested directories whose path is longer than PATH_MAX (4096), made with relative mkdir/cd as an attacker would. */
async function deepTree(dir: string, levels: number): Promise<void> {
  const name = 'd'.repeat(200);
  await exec('bash', ['-c', `cd "$1" && for i in $(seq ${levels}); do mkdir ${name} && cd ${name} || exit 1; done; echo deep > leaf`, 'deep', dir]);
}

describe('releaseOutputDir (tmpfs /output, as root)', () => {
  it('copies plain files and directories and reports nothing refused', async () => {
    const { dir, released } = await releaseAfter(async (d) => {
      await fs.writeFile(join(d, 'predictions.jsonl'), '{"caseId":"a","probability":0.5}\n');
      await fs.mkdir(join(d, 'masks'));
      await fs.writeFile(join(d, 'masks', 'a.json'), '[1,2]');
    });
    expect(released).toEqual({ apparentBytes: 33 + 5, refused: null });
    expect(await fs.readFile(join(dir, 'predictions.jsonl'), 'utf8')).toBe('{"caseId":"a","probability":0.5}\n');
    expect(await fs.readFile(join(dir, 'masks', 'a.json'), 'utf8')).toBe('[1,2]');
  });

  it('copies a file whose name is not UTF-8 under its own bytes (never decoded into another name)', async () => {
    const name = Buffer.from([0x6d, 0x61, 0x73, 0x6b, 0xff, 0xfe]);
    const { dir, released } = await releaseAfter(async (d) => {
      await fs.writeFile(Buffer.concat([Buffer.from(`${d}/`), name]), 'x');
    });
    expect(released).toEqual({ apparentBytes: 1, refused: null });
    expect(await fs.readdir(dir, { encoding: 'buffer' })).toEqual([name]);
  });

  it('refuses a 3 GiB sparse file by its apparent size and copies none of it to the host', async () => {
    const { dir, released } = await releaseAfter(async (d) => {
      await fs.writeFile(join(d, 'predictions.jsonl'), '{"caseId":"a","probability":0.5}\n');
      await exec('truncate', ['-s', '3G', join(d, 'predictions.jsonl')]);
      // 1 TiB too: tmpfs allocates no block for a hole, so size= never stops it.
      await exec('truncate', ['-s', '1T', join(d, 'huge')]);
    });
    expect(released.refused?.kind).toBe('over_cap');
    expect(released.refused?.detail).toMatch(/^\/output\/(predictions\.jsonl|huge): \d+ bytes \(apparent size, holes count\) pass the output cap of 1048576 bytes$/);
    expect(released.apparentBytes).toBeGreaterThanOrEqual(3 * 1024 ** 3);
    expect(await hostBytes(dir)).toBeLessThanOrEqual(CAP + 4096);
  });

  it('never copies more than the cap in total, however the files are split', async () => {
    const { dir, released } = await releaseAfter(async (d) => {
      // Each below the cap on its own (and sparse, so the tmpfs takes them): 1.8 MB together.
      for (let i = 0; i < 3; i++) await exec('truncate', ['-s', '600000', join(d, `part-${i}`)]);
    });
    expect(released.refused?.kind).toBe('over_cap');
    expect(await hostBytes(dir)).toBeLessThanOrEqual(CAP);
  });

  it.each<[string, (d: string) => Promise<void>, string, RegExp]>([
    ['a FIFO', (d) => exec('mkfifo', [join(d, 'predictions.jsonl')]).then(() => undefined), 'fifo', /^\/output\/predictions\.jsonl: a FIFO; only regular files and directories/],
    ['a symlink to a host file', (d) => fs.symlink('/etc/shadow', join(d, 'predictions.jsonl')), 'symlink', /^\/output\/predictions\.jsonl: a symlink/],
    ['a character device', (d) => exec('mknod', [join(d, 'null'), 'c', '1', '3']).then(() => undefined), 'device', /^\/output\/null: a device/],
    [
      'a unix socket',
      async (d) => {
        // Kept listening through the release; closed (and unlinked) after the test.
        openServer = createServer();
        const server = openServer;
        await new Promise<void>((resolve) => server.listen(join(d, 'sock'), resolve));
      },
      'socket',
      /^\/output\/sock: a socket/,
    ],
    [
      'a hard link',
      async (d) => {
        await fs.writeFile(join(d, 'predictions.jsonl'), '{}\n');
        await fs.link(join(d, 'predictions.jsonl'), join(d, 'again'));
      },
      'hardlink',
      /a hard link \(2 names for one file\)/,
    ],
  ])('refuses %s: never copied, never opened in a way that blocks', async (_what, plant, kind, detail) => {
    const t0 = Date.now();
    const { dir, released } = await releaseAfter(plant);
    expect(released.refused?.kind).toBe(kind);
    expect(released.refused?.detail).toMatch(detail);
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) expect(entry.isFile() || entry.isDirectory()).toBe(true);
    openServer?.close();
    openServer = undefined;
  });

  it('refuses directories nested past PATH_MAX without ENAMETOOLONG, unmounts, and the work dir goes', async () => {
    const { dir, released, work } = await releaseAfter((d) => deepTree(d, 30));
    expect(released.refused?.kind).toBe('too_deep');
    expect(released.refused?.detail).toMatch(new RegExp(`nested deeper than ${OUTPUT_MAX_DEPTH} levels or 1024 bytes of path$`));
    // Only what is within the limits was copied: the host copy stays far from PATH_MAX.
    const { stdout } = await exec('find', [dir]);
    for (const p of stdout.trim().split('\n')) expect(Buffer.byteLength(p.slice(dir.length))).toBeLessThanOrEqual(1024);
    await removeWorkDir(root, work);
    await expect(fs.lstat(work)).rejects.toThrow(/ENOENT/);
  });

  it('unmounts the tmpfs also when the copy throws (no room on the host for the copy), and leaves no staging dir', async () => {
    // The copy lands beside the output dir: a 16 KiB filesystem there makes it fail with ENOSPC mid-way.
    const parent = await createWorkDir(root, 'full');
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'assay-test-full', parent]);
    const dir = join(parent, 'output');
    await prepareOutputDir(dir, CAP, 'tmpfs', { uid: 0, gid: 0 });
    await fs.writeFile(join(dir, 'predictions.jsonl'), Buffer.alloc(64 * 1024, 1));
    await expect(releaseOutputDir(dir, CAP)).rejects.toThrow(/ENOSPC/);
    expect(await mountsUnder(dir)).toEqual([]);
    expect((await fs.readdir(parent)).filter((n) => n.startsWith('.assay-output-'))).toEqual([]);
    expect((await removeWorkDir(root, parent)).unmounted).toEqual([parent]);
    expect(await mountsUnder(root)).toEqual([]);
  });
});

describe("releaseOutputDir ('poll' /output, a worker that is not root)", () => {
  it('moves aside a tree the vendor made impossible for the worker to empty (mode 555 under its uid), instead of failing the run as internal', async () => {
    const WORKER = 65534;
    const VENDOR = 1000;
    const base = await fs.mkdtemp(join(tmpdir(), 'assay-poll-int-'));
    try {
      await fs.chown(base, WORKER, WORKER);
      const work = join(base, 'batch');
      await fs.mkdir(work, { mode: 0o700 });
      await fs.chown(work, WORKER, WORKER);
      const dir = join(work, 'output');
      // What a non-root worker makes: the dir open to the sandbox's uid; then the vendor writes as that uid.
      await fs.mkdir(dir, { mode: 0o777 });
      await fs.chown(dir, WORKER, WORKER);
      await fs.chmod(dir, 0o777);
      await fs.writeFile(join(dir, 'predictions.jsonl'), '{"caseId":"a","probability":0.5}\n');
      await fs.mkdir(join(dir, 'locked'));
      await fs.writeFile(join(dir, 'locked', 'x'), 'x');
      for (const p of [join(dir, 'predictions.jsonl'), join(dir, 'locked'), join(dir, 'locked', 'x')]) await fs.chown(p, VENDOR, VENDOR);
      await fs.chmod(join(dir, 'predictions.jsonl'), 0o644);
      // Readable by all (so it is copied) but writable by none: the worker cannot empty it.
      await fs.chmod(join(dir, 'locked'), 0o555);
      let released: ReleasedOutput;
      process.seteuid?.(WORKER);
      try {
        released = await releaseOutputDir(dir, CAP);
      } finally {
        process.seteuid?.(0);
      }
      // The copy is the worker's; the vendor's tree is out of the way, in the batch dir, for the work dir's removal.
      expect(released.refused).toBeNull();
      expect(await fs.readFile(join(dir, 'predictions.jsonl'), 'utf8')).toBe('{"caseId":"a","probability":0.5}\n');
      expect((await fs.stat(join(dir, 'predictions.jsonl'))).uid).toBe(WORKER);
      const left = (await fs.readdir(work)).filter((n) => n.startsWith('.assay-output-left-'));
      expect(left).toHaveLength(1);
      expect(await fs.readdir(join(work, left[0] as string))).toEqual(['locked']);
    } finally {
      await exec('rm', ['-rf', base]);
    }
  });
});

describe('work dirs and the start-up sweep', () => {
  it('gives every attempt of the same step its own path', async () => {
    const a = await createWorkDir(root, 'check-sub-1');
    const b = await createWorkDir(root, 'check-sub-1');
    expect(a).not.toBe(b);
    await removeWorkDir(root, a);
    await removeWorkDir(root, b);
  });

  it('removes a work dir with a live size-capped tmpfs under it (what a killed attempt leaves), no EBUSY', async () => {
    const work = await createWorkDir(root, 'killed');
    await prepareOutputDir(join(work, 'sandbox', 'output'), CAP, 'tmpfs', { uid: 0, gid: 0 });
    await fs.writeFile(join(work, 'sandbox', 'output', 'x'), 'x');
    await expect(fs.rm(work, { recursive: true, force: true })).rejects.toThrow(/EBUSY/);
    expect(await removeWorkDir(root, work)).toEqual({ unmounted: [join(work, 'sandbox', 'output')] });
    await expect(fs.lstat(work)).rejects.toThrow(/ENOENT/);
  });

  it('refuses to remove a path outside its work root', async () => {
    await expect(removeWorkDir(join(root, 'worker-a'), join(root, 'worker-b', 'x'))).rejects.toThrow(/not under the work root/);
  });

  it('sweeps what a crash left under the root: mounts, deep trees, plain dirs; another root is untouched', async () => {
    const mine = join(root, 'worker-mine');
    const other = join(root, 'worker-other');
    const crashed = await createWorkDir(mine, 'run-1-1');
    await prepareOutputDir(join(crashed, 'batch-1', 'output'), CAP, 'tmpfs', { uid: 0, gid: 0 });
    const deep = await createWorkDir(mine, 'run-2-1');
    await fs.mkdir(join(deep, 'batch-1', 'output'), { recursive: true });
    await deepTree(join(deep, 'batch-1', 'output'), 30);
    const live = await createWorkDir(other, 'run-3-1');
    await prepareOutputDir(join(live, 'output'), CAP, 'tmpfs', { uid: 0, gid: 0 });

    const swept = await sweepWorkRoot(mine);
    expect(swept.unmounted).toEqual([join(crashed, 'batch-1', 'output')]);
    expect(swept.removed.sort()).toEqual([crashed, deep].sort());
    expect(await fs.readdir(mine)).toEqual([]);
    expect(await mountsUnder(mine)).toEqual([]);
    // The other worker's run is left alone.
    expect(await mountsUnder(other)).toEqual([join(live, 'output')]);
    await removeWorkDir(other, live);
    expect(await sweepWorkRoot(mine)).toEqual({ unmounted: [], removed: [] });
  });

  it('adapter.sweep() at worker start removes the containers, mounts and work dirs a killed worker left, and logs it', async () => {
    const workerId = `sweep-test-${process.pid}`;
    const workRoot = join(root, `worker-${workerId}`);
    const adapter = new DockerSandboxAdapter({ socketPath: '/var/run/docker.sock', workerId, outputCapMode: 'tmpfs', workRoot });
    // What SIGKILL mid-run leaves: a container labelled with this worker, a size-capped tmpfs, the attempt's dir.
    const { stdout } = await exec('docker', ['create', '--label', 'org.assay.sandbox=1', '--label', `org.assay.worker=${workerId}`, 'assay/base:bookworm', 'true']);
    const containerId = stdout.trim();
    const killed = await adapter.createWorkDir('check-sub-1');
    await prepareOutputDir(join(killed, 'sandbox', 'output'), CAP, 'tmpfs', { uid: 0, gid: 0 });
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const swept = await adapter.sweep();
      expect(swept).toEqual({ containers: [containerId], unmounted: [join(killed, 'sandbox', 'output')], removed: [killed] });
      expect(warn).toHaveBeenCalledWith(`start-up sweep of ${workRoot}: unmounted 1 mount(s), removed 1 work dir(s) left by a previous run of this worker`);
    } finally {
      warn.mockRestore();
      await exec('docker', ['rm', '-f', containerId]).catch(() => undefined);
    }
    await expect(exec('docker', ['inspect', containerId])).rejects.toThrow();
    expect(await mountsUnder(workRoot)).toEqual([]);
    expect(await fs.readdir(workRoot)).toEqual([]);
    // The retry of the same step gets a new path and works.
    const retry = await adapter.createWorkDir('check-sub-1');
    expect(retry).not.toBe(killed);
    expect(await adapter.removeWorkDir(retry)).toBe(true);
  }, 60_000);
});
