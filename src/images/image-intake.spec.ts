import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { appLayer, dockerSave, sha256, tar, type ImageSpec } from '../../test/fixtures/images/tar-writer';
import { hostArchitecture, inspectImageTarball, type ImageIntakeLimits, type ImageIntakeResult } from './image-intake';

const LIMITS: ImageIntakeLimits = { maxUnpackedBytes: 8 << 20, maxLayerCompressionRatio: 50, expectedArchitecture: 'amd64', bombFloorBytes: 1 << 20 };

/** Feeds the archive in small, odd-sized chunks so every boundary case of the reader is exercised. */
function chunked(buf: Buffer, size = 777): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  })());
}

async function inspect(spec: Partial<ImageSpec> | Buffer, limits: ImageIntakeLimits = LIMITS): Promise<ImageIntakeResult> {
  const archive = Buffer.isBuffer(spec) ? spec : dockerSave({ layers: [appLayer()], ...spec }).archive;
  return inspectImageTarball(chunked(archive), limits);
}

describe('inspectImageTarball', () => {
  it.each(['legacy', 'oci'] as const)('accepts a well-formed %s archive and describes it', async (layout) => {
    const layers = [appLayer(), tar([{ name: 'app/model.bin', body: Buffer.alloc(3000, 7) }])];
    const { archive, configDigest } = dockerSave({ layers, layout, gzipLayers: [1], user: 'vendor', cmd: ['--fast'] });
    const r = await inspectImageTarball(chunked(archive), LIMITS);
    if (!r.ok) throw new Error(r.message);
    expect(r.image).toMatchObject({
      configDigest,
      repoTags: ['vendor/algo:1'],
      architecture: 'amd64',
      os: 'linux',
      user: 'vendor',
      runAs: { uid: 10001, gid: 10002 },
      entrypoint: ['/bin/run'],
      cmd: ['--fast'],
      env: ['PATH=/usr/bin:/bin'],
      workingDir: '/app',
    });
    expect(r.image.layers).toHaveLength(2);
    expect(r.image.layers[0]).toMatchObject({ compressed: false, unpackedBytes: layers[0]?.length });
    expect(r.image.layers[1]).toMatchObject({ compressed: true, unpackedBytes: layers[1]?.length });
    expect(r.image.unpackedBytes).toBe((layers[0]?.length ?? 0) + (layers[1]?.length ?? 0));
  });

  it('follows Docker 25+ links from <id>/layer.tar to the blob', async () => {
    const layer = appLayer();
    const hex = sha256(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { User: '10001', Cmd: ['/app/run.sh'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${hex}`] } }));
    const configHex = sha256(config);
    const archive = tar([
      { name: `blobs/sha256/${hex}`, body: layer },
      { name: `blobs/sha256/${configHex}`, body: config },
      { name: `${hex}/layer.tar`, type: 'symlink', linkname: `../blobs/sha256/${hex}` },
      { name: `${configHex}.json`, type: 'symlink', linkname: `blobs/sha256/${configHex}` },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [], Layers: [`${hex}/layer.tar`] }]) },
    ]);
    const r = await inspect(archive);
    expect(r.ok && r.image.configDigest).toBe(`sha256:${configHex}`);
  });

  it('accepts the archive gzipped as a whole (.tar.gz)', async () => {
    const r = await inspect(gzipSync(dockerSave({ layers: [appLayer()] }).archive));
    expect(r.ok).toBe(true);
  });

  it('derives the expected architecture from process.arch', () => {
    expect(hostArchitecture('x64')).toBe('amd64');
    expect(hostArchitecture('arm64')).toBe('arm64');
  });

  it.each([
    ['random bytes', Buffer.from('definitely not a tarball, just text that goes on for a while')],
    ['an empty upload', Buffer.alloc(0)],
    ['a tar without manifest.json', tar([{ name: 'hello.txt', body: 'hi' }])],
    ['a corrupt gzip', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(100, 0xff)])],
  ])('rejects %s as not_a_docker_archive', async (_what, buf) => {
    const r = await inspect(buf);
    expect(r).toMatchObject({ ok: false, code: 'not_a_docker_archive' });
  });

  it('rejects a layer that does not match the config diff_ids', async () => {
    const r = await inspect({ layers: [appLayer()], rawLayerBlobs: { 0: tar([{ name: 'other', body: 'x' }]) } });
    expect(r).toMatchObject({ ok: false, code: 'not_a_docker_archive' });
    if (!r.ok) expect(r.message).toMatch(/does not match the config's diff_id/);
  });

  it('rejects more than one image in manifest.json', async () => {
    expect(await inspect({ extraManifestEntries: 1 })).toMatchObject({ ok: false, code: 'multiple_images' });
  });

  it('rejects another architecture', async () => {
    const r = await inspect({ architecture: 'arm64' });
    expect(r).toMatchObject({ ok: false, code: 'wrong_architecture', message: 'image is linux/arm64; this facility runs linux/amd64' });
  });

  it.each(['', 'root', '0', '0:0', '0:10001', 'root:vendor', '000', 'sneaky', '10001:0'])('rejects USER %p as runs_as_root', async (user) => {
    expect(await inspect({ user })).toMatchObject({ ok: false, code: 'runs_as_root' });
  });

  it.each([
    ['10001', { uid: 10001, gid: 10002 }],
    ['4242', { uid: 4242, gid: 65534 }],
    ['4242:4343', { uid: 4242, gid: 4343 }],
    ['vendor:vendor', { uid: 10001, gid: 10002 }],
  ])('resolves USER %p to numbers', async (user, runAs) => {
    const r = await inspect({ user });
    expect(r.ok && r.image.runAs).toEqual(runAs);
  });

  it('refuses a user name the image does not define', async () => {
    expect(await inspect({ user: 'ghost' })).toMatchObject({ ok: false, code: 'unresolvable_user' });
  });

  it.each(['assay/onnx-runner:1.0.0', 'docker.io/assay/base:bookworm'])('rejects the facility tag %p as reserved_tag', async (tag) => {
    expect(await inspect({ repoTags: [tag] })).toMatchObject({ ok: false, code: 'reserved_tag' });
  });

  it('rejects an image with neither entrypoint nor cmd', async () => {
    expect(await inspect({ entrypoint: null, cmd: null })).toMatchObject({ ok: false, code: 'no_entrypoint' });
  });

  it('accepts cmd without entrypoint', async () => {
    expect((await inspect({ entrypoint: null, cmd: ['/app/run.sh'] })).ok).toBe(true);
  });

  it.each<[string, Parameters<typeof tar>[0], string]>([
    ['a ../ entry', [{ name: '../../etc/passwd', body: 'x' }], "entry '../../etc/passwd' escapes the image root"],
    ['a nested ../ entry', [{ name: 'app/../../x', body: 'x' }], "entry 'app/../../x' escapes the image root"],
    ['an absolute entry', [{ name: '/etc/cron.d/x', body: 'x' }], "entry '/etc/cron.d/x' has an absolute path"],
    ['an escaping symlink', [{ name: 'app/l', type: 'symlink', linkname: '../../../etc/shadow' }], "symlink 'app/l' -> '../../../etc/shadow' escapes the image root"],
    ['an escaping hard link', [{ name: 'app/h', type: 'hardlink', linkname: '../etc/shadow' }], "hard link 'app/h' -> '../etc/shadow' points outside the image root"],
    ['an absolute hard link', [{ name: 'app/h', type: 'hardlink', linkname: '/etc/shadow' }], "hard link 'app/h' -> '/etc/shadow' points outside the image root"],
    ['a long pax name', [{ name: `${'d/'.repeat(60)}../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../x`, body: 'x' }], 'escapes the image root'],
  ])('rejects %s as path_traversal, naming the layer', async (_what, evil, detail) => {
    const { archive } = dockerSave({ layers: [appLayer(), tar(evil)], gzipLayers: [1] });
    const r = await inspect(archive);
    expect(r).toMatchObject({ ok: false, code: 'path_traversal' });
    if (r.ok) return;
    expect(r.message).toMatch(/^layer 2 \(sha256:[0-9a-f]{12}…\): /);
    expect(r.message).toContain(detail);
  });

  it('rejects a gzip layer that inflates past the ratio as decompression_bomb, stopping early', async () => {
    // 6 MiB of zeros gzip to ~6 KiB: ratio ~1000 against a limit of 50.
    const bomb = tar([{ name: 'zeros', body: Buffer.alloc(6 << 20) }]);
    const r = await inspect({ layers: [appLayer(), bomb], gzipLayers: [1] });
    expect(r).toMatchObject({ ok: false, code: 'decompression_bomb' });
    if (!r.ok) expect(r.message).toMatch(/^layer 2 \(sha256:[0-9a-f]{12}…\): gzip layer of \d+ bytes inflates past 50x its size/);
  });

  it('rejects a gzip layer that inflates past the size limit as decompression_bomb', async () => {
    const bomb = tar([{ name: 'zeros', body: Buffer.alloc(9 << 20) }]);
    const r = await inspect({ layers: [bomb], gzipLayers: [0] }, { ...LIMITS, maxLayerCompressionRatio: 1e6 });
    expect(r).toMatchObject({ ok: false, code: 'decompression_bomb' });
    if (!r.ok) expect(r.message).toContain('inflates past the 8388608-byte limit');
  });

  it('lets a small, highly compressible layer through under the default floor', async () => {
    // Tar headers and end blocks are zeros: gzip shrinks this layer about 45x.
    const dirs = tar(Array.from({ length: 20 }, (_, i) => ({ name: `d${i}/`, type: 'directory' as const })));
    expect(dirs.length / gzipSync(dirs).length).toBeGreaterThan(20);
    const strict = { ...LIMITS, maxLayerCompressionRatio: 20 };
    expect(await inspect({ layers: [appLayer(), dirs], gzipLayers: [1] }, { ...strict, bombFloorBytes: 0 })).toMatchObject({ code: 'decompression_bomb' });
    const r = await inspect({ layers: [appLayer(), dirs], gzipLayers: [1] }, { ...strict, bombFloorBytes: undefined });
    expect(r.ok).toBe(true);
  });

  it('rejects plain layers that together pass the limit as too_large', async () => {
    const big = (n: string): Buffer => tar([{ name: n, body: Buffer.alloc(5 << 20, 1) }]);
    const r = await inspect({ layers: [big('a'), big('b')] });
    expect(r).toMatchObject({ ok: false, code: 'too_large' });
  });

  it('rejects an outer .tar.gz that is itself a bomb', async () => {
    const r = await inspect(gzipSync(Buffer.alloc(30 << 20)), { ...LIMITS, maxUnpackedBytes: 1 << 20 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(['decompression_bomb', 'too_large']).toContain(r.code);
  });

  it('rejects a truncated archive', async () => {
    const { archive } = dockerSave({ layers: [appLayer()] });
    const r = await inspect(archive.subarray(0, 2000));
    expect(r).toMatchObject({ ok: false, code: 'not_a_docker_archive' });
  });
});
