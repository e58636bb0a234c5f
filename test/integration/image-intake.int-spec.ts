import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { DEFAULT_RUNNER_IMAGE } from '../../src/config/config.schema';
import { hostArchitecture, inspectImageTarball, type ImageIntakeLimits } from '../../src/containers/image-intake';
import { admitImageTarball, canonicalArchive, inspectTarballFile } from '../../src/containers/image-loader';
import { runVendorBatch } from '../../src/sandbox/container-run';
import { DockerSandboxAdapter } from '../../src/sandbox/docker-sandbox.adapter';
import { RECOMMENDED_PIDS_LIMIT } from '../../src/sandbox/sandbox-profile';
import { appLayer, dockerSave, rawTar, tar } from '../fixtures/images/tar-writer';

// A vendor's path end to end: `docker save` of the example image -> intake -> docker load (once) -> a batch of all
// 569 WDBC cases under runsc. The tarball is written at test time under test/fixtures/images/generated/ (ignored).

const exec = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const EXAMPLE_IMAGE = 'vendor-example/wdbc-python:1';
const GENERATED = join(ROOT, 'test', 'fixtures', 'images', 'generated');
const LIMITS: ImageIntakeLimits = { maxUnpackedBytes: 2 * 1024 ** 3, maxLayerCompressionRatio: 100, expectedArchitecture: hostArchitecture() };

let adapter: DockerSandboxAdapter;
let work: string;
let exampleTar: string;
let exampleId: string;

/** Rank-based AUROC (ties count half). */
function auroc(scores: number[], labels: boolean[]): number {
  let pairs = 0;
  let wins = 0;
  scores.forEach((s, i) => {
    if (!labels[i]) return;
    scores.forEach((t, j) => {
      if (labels[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

beforeAll(async () => {
  adapter = new DockerSandboxAdapter({ socketPath: '/var/run/docker.sock', workerId: `intake-test-${process.pid}`, outputCapMode: 'auto' });
  if (!(await adapter.ping())) throw new Error('Docker engine not reachable: run scripts/setup-docker.sh as root');
  const info = await adapter.inspectImage(EXAMPLE_IMAGE);
  if (!info) throw new Error(`image ${EXAMPLE_IMAGE} missing: run scripts/build-images.sh`);
  exampleId = info.id;
  await fs.mkdir(GENERATED, { recursive: true });
  exampleTar = join(GENERATED, 'example-wdbc-python.tar');
  await exec('docker', ['save', '-o', exampleTar, EXAMPLE_IMAGE]);
  work = await fs.mkdtemp(join(tmpdir(), 'assay-intake-'));
  await fs.chmod(work, 0o755);
}, 120_000);

afterAll(async () => {
  if (work) {
    const { stdout } = await exec('findmnt', ['-rn', '-o', 'TARGET']).catch(() => ({ stdout: '' }));
    for (const t of stdout.split('\n').filter((x) => x.startsWith(work))) await exec('umount', ['-l', t]).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  }
  await fs.rm(GENERATED, { recursive: true, force: true });
});

describe('image intake with real docker save output', () => {
  it('accepts the example image and describes it as Docker does', async () => {
    const t0 = Date.now();
    const v = await inspectTarballFile(exampleTar, LIMITS);
    const ms = Date.now() - t0;
    if (!v.ok) throw new Error(`${v.code}: ${v.message}`);
    expect(v.tarballSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(v.image).toMatchObject({
      configDigest: exampleId,
      repoTags: [EXAMPLE_IMAGE],
      architecture: 'amd64',
      os: 'linux',
      user: '10001:10001',
      runAs: { uid: 10001, gid: 10001 },
      entrypoint: ['python3', '/opt/algo/predict.py'],
    });
    expect(v.image.layers.length).toBeGreaterThanOrEqual(2);
    expect(v.image.unpackedBytes).toBeGreaterThan(100e6);
    // Streaming a ~200 MB archive once: hashing, parsing every layer entry.
    expect(ms).toBeLessThan(20_000);
  }, 60_000);

  it('loads a new image once, recognises it the second time, and removes it by ID', async () => {
    // A tiny hand-built image, so the test owns it: one layer with a script, USER 4242.
    const layer = tar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/algo', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
    ]);
    const { archive, configDigest } = dockerSave({ layers: [layer], user: '4242:4242', entrypoint: ['/bin/algo'], repoTags: [`intake-test/tiny:${process.pid}`] });
    const file = join(work, 'tiny.tar');
    await fs.writeFile(file, archive);
    await adapter.removeImage(configDigest);
    expect(await adapter.isImageLoaded(configDigest)).toBe(false);

    const first = await admitImageTarball(adapter, file, LIMITS);
    expect(first).toMatchObject({ ok: true, imageId: configDigest, alreadyLoaded: false });
    // Same image in other bytes (gzipped): recognised by image ID, not loaded again.
    const gzFile = join(work, 'tiny.tar.gz');
    await fs.writeFile(gzFile, gzipSync(archive));
    const second = await admitImageTarball(adapter, gzFile, LIMITS);
    expect(second).toMatchObject({ ok: true, imageId: configDigest, alreadyLoaded: true });
    expect(first.tarballSha256).not.toBe(second.tarballSha256);

    // loadImage itself on the same bytes also reports the same ID.
    expect((await adapter.loadImage(file)).imageId).toBe(configDigest);
    await adapter.removeImage(configDigest);
    expect(await adapter.isImageLoaded(configDigest)).toBe(false);
    await adapter.removeImage(configDigest); // absent already: fine
  }, 60_000);

  it('never loads a rejected archive', async () => {
    const { archive, configDigest } = dockerSave({ layers: [tar([{ name: 'x', body: 'x' }])], user: 'root', repoTags: [`intake-test/root:${process.pid}`] });
    const file = join(work, 'root.tar');
    await fs.writeFile(file, archive);
    const r = await admitImageTarball(adapter, file, LIMITS);
    expect(r).toMatchObject({ ok: false, code: 'runs_as_root' });
    expect(await adapter.isImageLoaded(configDigest)).toBe(false);
  }, 30_000);

  it('runs the admitted example on all 569 WDBC cases under runsc with an honest AUROC', async () => {
    const admitted = await admitImageTarball(adapter, exampleTar, LIMITS);
    if (!admitted.ok) throw new Error(admitted.message);
    expect(admitted.alreadyLoaded).toBe(true);
    const rows = (await fs.readFile(join(ROOT, 'cohorts', 'wdbc', 'wdbc.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
    const cases = rows.map((r) => ({ caseId: r[0] as string, inputs: { features: r.slice(2).map(Number) } }));
    const o = await runVendorBatch(adapter, {
      image: { imageId: admitted.imageId, runAs: admitted.image.runAs, workingDir: admitted.image.workingDir },
      workDir: join(work, 'run-1', 'batch-0'),
      batch: { benchmark: 'wdbc-malignancy', task: 'binary-classification', interface: {}, cases },
      limits: { memoryBytes: 512 << 20, nanoCpus: 1e9, pidsLimit: RECOMMENDED_PIDS_LIMIT.runsc, timeoutMs: 60_000, outputBytes: 16 << 20, logBytes: 64 << 10, tmpBytes: 16 << 20 },
      runtime: 'runsc',
    });
    expect(o.failure).toBeNull();
    expect(o.result.logs).toContain('predicted 569 case(s)');
    const preds = (o.predictions ?? '').trim().split('\n').map((l) => JSON.parse(l) as { caseId: string; probability: number });
    expect(preds.map((p) => p.caseId)).toEqual(cases.map((c) => c.caseId));
    const labels = rows.map((r) => r[1] === 'M');
    // Fitted on 20 sample cases only; the full cohort still separates well.
    expect(auroc(preds.map((p) => p.probability), labels)).toBeGreaterThan(0.95);
  }, 90_000);

  it('loads a vendor image untagged, whatever its archive says', async () => {
    const layer = tar([{ name: 'bin/', type: 'directory' }, { name: 'bin/algo', body: `#!/bin/sh\necho ${process.pid}\n`, mode: 0o755 }]);
    const tag = `intake-test/tagged:${process.pid}`;
    const { archive, configDigest } = dockerSave({ layers: [layer], user: '4242:4242', entrypoint: ['/bin/algo'], repoTags: [tag] });
    const file = join(work, 'tagged.tar');
    await fs.writeFile(file, archive);
    await adapter.removeImage(configDigest);
    const r = await admitImageTarball(adapter, file, LIMITS);
    expect(r).toMatchObject({ ok: true, imageId: configDigest, alreadyLoaded: false });
    expect((await adapter.inspectImage(configDigest))?.repoTags).toEqual([]);
    expect(await adapter.inspectImage(tag)).toBeNull();
    await adapter.removeImage(configDigest);
  }, 60_000);

  it("never lets a vendor archive set or move a tag: each spelling of the runner's name and of a library/ name", async () => {
    const runner = await adapter.inspectImage(DEFAULT_RUNNER_IMAGE);
    if (!runner) throw new Error(`${DEFAULT_RUNNER_IMAGE} missing: run scripts/build-images.sh`);
    const runnerSpellings = [DEFAULT_RUNNER_IMAGE, `docker.io/${DEFAULT_RUNNER_IMAGE}`, `index.docker.io/${DEFAULT_RUNNER_IMAGE}`];
    // A test-owned victim under library/: a second tiny image tagged with its plain name.
    const victimName = `intake-victim-${process.pid}`;
    const victimTag = `${victimName}:1`;
    const victimSpellings = [`library/${victimTag}`, `docker.io/library/${victimTag}`, `index.docker.io/library/${victimTag}`];
    const victim = dockerSave({ layers: [tar([{ name: 'victim', body: String(process.pid) }])], user: '4242:4242', repoTags: [victimTag] });
    const victimFile = join(work, 'victim.tar');
    await fs.writeFile(victimFile, victim.archive);
    await adapter.loadImage(victimFile); // test-owned: the raw load applies its tag
    expect((await adapter.inspectImage(victimTag))?.id).toBe(victim.configDigest);

    const layer = tar([{ name: 'bin/', type: 'directory' }, { name: 'bin/evil', body: '#!/bin/sh\necho pwned\n', mode: 0o755 }]);
    const spec = { layers: [layer], user: '4242:4242', entrypoint: ['/bin/evil'] };
    const hostile = dockerSave({ ...spec, repoTags: [...runnerSpellings, ...victimSpellings] });
    const hostileFile = join(work, 'hostile.tar');
    await fs.writeFile(hostileFile, hostile.archive);
    await adapter.removeImage(hostile.configDigest);
    try {
      // Refused at intake for naming the runner, however spelled.
      for (const t of runnerSpellings) {
        const one = join(work, 'one.tar');
        await fs.writeFile(one, dockerSave({ ...spec, repoTags: [t] }).archive);
        expect(await admitImageTarball(adapter, one, LIMITS)).toMatchObject({ ok: false, code: 'reserved_tag' });
      }
      // The load itself never applies a tag either: the canonical archive of the hostile file (inspected as if clean).
      const clean = await inspectImageTarball(Readable.from(dockerSave({ ...spec, repoTags: [] }).archive), LIMITS);
      if (!clean.ok) throw new Error(clean.message);
      const { imageId } = await adapter.loadImage(canonicalArchive(hostileFile, clean.image, LIMITS));
      expect(imageId).toBe(hostile.configDigest);
      expect((await adapter.inspectImage(imageId))?.repoTags).toEqual([]);
      expect((await adapter.inspectImage(DEFAULT_RUNNER_IMAGE))?.id).toBe(runner.id);
      for (const t of runnerSpellings) expect((await adapter.inspectImage(t))?.id).toBe(runner.id);
      expect((await adapter.inspectImage(victimTag))?.id).toBe(victim.configDigest);
      await adapter.removeImage(imageId);
      // What the canonical archive prevents: a plain docker load of the same bytes moves the library/ tag.
      const victimOnly = join(work, 'victim-only.tar');
      await fs.writeFile(victimOnly, dockerSave({ ...spec, repoTags: victimSpellings }).archive);
      await adapter.loadImage(victimOnly);
      expect((await adapter.inspectImage(victimTag))?.id).toBe(hostile.configDigest);
    } finally {
      await adapter.removeImage(hostile.configDigest);
      await adapter.removeImage(victim.configDigest);
      expect((await adapter.inspectImage(DEFAULT_RUNNER_IMAGE))?.id).toBe(runner.id);
    }
  }, 120_000);

  it("refuses a duplicated outer manifest.json at intake as the vendor's fault (rejected, never loaded, never internal)", async () => {
    const { archive, configDigest } = dockerSave({ layers: [appLayer()], repoTags: [`intake-test/dup:${process.pid}`] });
    const dup = Buffer.concat([rawTar([{ name: 'manifest.json', typeflag: '2', linkname: 'other.json' }, { name: 'other.json', typeflag: '0', body: '[]' }], { end: false }), archive]);
    const file = join(work, 'dup.tar');
    await fs.writeFile(file, dup);
    const r = await admitImageTarball(adapter, file, LIMITS);
    expect(r).toMatchObject({ ok: false, code: 'duplicate_entry' });
    if (!r.ok) expect(r.message).toContain("'manifest.json' appears twice");
    expect(await adapter.isImageLoaded(configDigest)).toBe(false);
  }, 30_000);

  it('refuses layers with device nodes or setuid files that Docker would extract', async () => {
    for (const [entry, code] of [
      [{ name: 'dev/sda', typeflag: '4' }, 'special_file'],
      [{ name: 'bin/su', typeflag: '0', mode: 0o4755, body: 'x' }, 'setuid_file'],
    ] as const) {
      const { archive, configDigest } = dockerSave({ layers: [appLayer(), rawTar([entry])], repoTags: [] });
      const file = join(work, 'special.tar');
      await fs.writeFile(file, archive);
      expect(await admitImageTarball(adapter, file, LIMITS)).toMatchObject({ ok: false, code });
      expect(await adapter.isImageLoaded(configDigest)).toBe(false);
    }
  }, 30_000);
});
