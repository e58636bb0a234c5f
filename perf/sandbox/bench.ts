// Sandbox overhead per batch (create -> start -> exit -> remove, through DockerSandboxAdapter.run) under runc and
// runsc, for a trivial container and for the python example on the 569 WDBC cases; and docker load throughput of a
// generated image tarball. Run through perf/sandbox/run.sh, which compiles this file and prints a Markdown report.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, readFileSync } from 'node:fs';
import { loadavg, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hostArchitecture } from '../../src/containers/image-intake';
import { inspectTarballFile } from '../../src/containers/image-loader';
import { runVendorBatch } from '../../src/sandbox/container-run';
import { DockerSandboxAdapter } from '../../src/sandbox/docker-sandbox.adapter';
import { RECOMMENDED_PIDS_LIMIT } from '../../src/sandbox/sandbox-profile';
import type { SandboxLimits, SandboxRuntime, SandboxTimings } from '../../src/sandbox/sandbox.types';

const exec = promisify(execFile);
const ROOT = process.cwd();
const N_TRIVIAL = Number(process.env.N_TRIVIAL ?? 10);
const N_PYTHON = Number(process.env.N_PYTHON ?? 5);
const LOAD_MB = Number(process.env.LOAD_MB ?? 1024);
const LIMITS: SandboxLimits = {
  memoryBytes: 512 << 20,
  nanoCpus: 1e9,
  pidsLimit: RECOMMENDED_PIDS_LIMIT.runsc,
  timeoutMs: 60_000,
  outputBytes: 16 << 20,
  logBytes: 64 << 10,
  tmpBytes: 16 << 20,
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

function summarise(label: string, runtime: SandboxRuntime, ts: SandboxTimings[]): string {
  const col = (k: keyof SandboxTimings): string => String(Math.round(median(ts.map((t) => t[k]))));
  const max = Math.round(Math.max(...ts.map((t) => t.totalMs)));
  return `| ${label} | ${runtime} | ${ts.length} | ${col('createMs')} | ${col('startMs')} | ${col('waitMs')} | ${col('removeMs')} | **${col('totalMs')}** | ${max} |`;
}

async function main(): Promise<void> {
  const adapter = new DockerSandboxAdapter({ socketPath: '/var/run/docker.sock', workerId: `perf-${process.pid}`, outputCapMode: 'auto' });
  const info = await adapter.info();
  const work = await fs.mkdtemp(join(tmpdir(), 'assay-perf-'));
  await fs.chmod(work, 0o755);
  const out: string[] = [];
  const load0 = loadavg();
  out.push(`- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Docker ${info.serverVersion}, cgroup ${info.cgroupVersion}, runsc ${(await exec('runsc', ['--version'])).stdout.split('\n')[0] ?? ''}`);
  out.push(`- load average at start: ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  out.push('', '| workload | runtime | n | create ms | start ms | wait ms | remove ms | total ms (median) | total ms (max) |', '|---|---|---|---|---|---|---|---|---|');

  let seq = 0;
  const base = await adapter.inspectImage('assay/base:bookworm');
  const example = await adapter.inspectImage('vendor-example/wdbc-python:1');
  if (!base || !example) throw new Error('images missing: run scripts/build-images.sh');
  const rows = readFileSync(join(ROOT, 'cohorts', 'wdbc', 'wdbc.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const cases = rows.map((r) => ({ caseId: r[0] as string, inputs: { features: r.slice(2).map(Number) } }));

  for (const runtime of ['runc', 'runsc'] as const) {
    const trivial: SandboxTimings[] = [];
    for (let i = 0; i < N_TRIVIAL; i++) {
      const outputDir = join(work, `out-${seq++}`);
      try {
        const r = await adapter.run({ image: base.id, cmd: ['true'], mounts: [], outputDir, limits: LIMITS, runtime });
        if (r.exitCode !== 0) throw new Error(`trivial run exited ${r.exitCode}: ${r.logs}`);
        trivial.push(r.timings);
      } finally {
        await adapter.releaseOutputDir(outputDir, LIMITS.outputBytes);
      }
    }
    out.push(summarise('trivial (`true`)', runtime, trivial));
    const python: SandboxTimings[] = [];
    for (let i = 0; i < N_PYTHON; i++) {
      const o = await runVendorBatch(adapter, {
        image: { imageId: example.id, runAs: { uid: 10001, gid: 10001 }, workingDir: example.workingDir },
        workDir: join(work, `py-${seq++}`),
        batch: { benchmark: 'wdbc-malignancy', task: 'binary-classification', interface: {}, cases },
        limits: LIMITS,
        runtime,
      });
      if (o.failure) throw new Error(`python run failed: ${o.failure} ${o.result.logs}`);
      python.push(o.result.timings);
    }
    out.push(summarise('python example, 569 cases', runtime, python));
  }

  // docker load throughput: a generated one-layer image whose layer is LOAD_MB of incompressible-looking bytes.
  const tarball = join(work, 'load.tar');
  const { bytes, configDigest } = await writeLoadTarball(tarball, LOAD_MB << 20);
  await adapter.removeImage(configDigest);
  const ti = Date.now();
  const verdict = await inspectTarballFile(tarball, { maxUnpackedBytes: 4 * 1024 ** 3, maxLayerCompressionRatio: 100, expectedArchitecture: hostArchitecture() });
  const intakeMs = Date.now() - ti;
  if (!verdict.ok) throw new Error(`intake rejected the load tarball: ${verdict.message}`);
  out.push('', `- intake (stream, sha256 of the tarball and of each layer, tar walk) of the same tarball: ${(intakeMs / 1000).toFixed(1)} s = **${((bytes / 2 ** 20) / (intakeMs / 1000)).toFixed(0)} MiB/s**`);
  const t0 = Date.now();
  const { imageId } = await adapter.loadImage(tarball);
  const loadMs = Date.now() - t0;
  if (imageId !== configDigest) throw new Error(`loaded ${imageId}, expected ${configDigest}`);
  const t1 = Date.now();
  const again = await adapter.isImageLoaded(configDigest);
  const checkMs = Date.now() - t1;
  await adapter.removeImage(imageId);
  out.push(`- docker load of a ${(bytes / 2 ** 20).toFixed(0)} MiB tarball (one ${LOAD_MB} MiB layer): ${(loadMs / 1000).toFixed(1)} s = **${((bytes / 2 ** 20) / (loadMs / 1000)).toFixed(0)} MiB/s** (${((loadMs / 1000) * (1024 / LOAD_MB)).toFixed(1)} s per GiB); "already loaded?" check ${checkMs} ms (${again})`);
  out.push(`- load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await fs.rm(work, { recursive: true, force: true });
  process.stdout.write(out.join('\n') + '\n');
}

/** Streams a docker-save archive (legacy layout) with one layer holding one file of `size` bytes. */
async function writeLoadTarball(path: string, size: number): Promise<{ bytes: number; configDigest: string }> {
  const block = randomBytes(1 << 20);
  const hdr = (name: string, len: number, flag = '0'): Buffer => {
    const h = Buffer.alloc(512);
    h.write(name, 0);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(len.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.fill(0x20, 148, 156);
    h.write(flag, 156);
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return h;
  };
  const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);
  // The layer tar: header, data, padding, end blocks. Its sha256 is the diff_id.
  const layerHead = hdr('data.bin', size);
  const layerTail = Buffer.concat([pad(size), Buffer.alloc(1024)]);
  const layerLen = 512 + size + layerTail.length;
  const diff = createHash('sha256').update(layerHead);
  for (let o = 0; o < size; o += block.length) diff.update(block.subarray(0, Math.min(block.length, size - o)));
  diff.update(layerTail);
  const diffId = `sha256:${diff.digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { User: '10001:10001', Entrypoint: ['/data.bin'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const configHex = createHash('sha256').update(config).digest('hex');
  const layerDir = diffId.slice(7);
  const manifest = Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: null, Layers: [`${layerDir}/layer.tar`] }]));
  const ws = createWriteStream(path);
  const write = (b: Buffer): Promise<void> => new Promise((resolve, reject) => (ws.write(b, (e) => (e ? reject(e) : resolve()))));
  let bytes = 0;
  const put = async (b: Buffer): Promise<void> => {
    bytes += b.length;
    await write(b);
  };
  await put(hdr(`${layerDir}/layer.tar`, layerLen));
  await put(layerHead);
  for (let o = 0; o < size; o += block.length) await put(block.subarray(0, Math.min(block.length, size - o)));
  await put(layerTail);
  await put(pad(layerLen));
  for (const [name, body] of [[`${configHex}.json`, config], ['manifest.json', manifest]] as const) {
    await put(hdr(name, body.length));
    await put(body);
    await put(pad(body.length));
  }
  await put(Buffer.alloc(1024));
  await new Promise<void>((resolve) => ws.end(resolve));
  return { bytes, configDigest: `sha256:${configHex}` };
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
