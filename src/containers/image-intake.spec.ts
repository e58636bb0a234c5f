import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { appLayer, dockerSave, rawTar, sha256, tar, type ImageSpec, type RawEntry } from '../../test/fixtures/images/tar-writer';
import { hostArchitecture, inspectImageTarball, isReservedTag, normaliseReference, type ImageIntakeCode, type ImageIntakeLimits, type ImageIntakeResult } from './image-intake';

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

  it.each([
    'assay/onnx-runner:1.0.0',
    'docker.io/assay/base:bookworm',
    'index.docker.io/assay/onnx-runner:1.1.0',
    'registry-1.docker.io/assay/onnx-runner:1.1.0',
    'Docker.IO/Assay/onnx-runner:1.1.0',
    ' assay/onnx-runner:1.1.0',
  ])('rejects the facility tag %p as reserved_tag', async (tag) => {
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

  it('normalises references as Docker does', () => {
    expect(normaliseReference('index.docker.io/assay/onnx-runner:1.1.0')).toBe('docker.io/assay/onnx-runner:1.1.0');
    expect(normaliseReference('ubuntu:22.04')).toBe('docker.io/library/ubuntu:22.04');
    expect(normaliseReference('index.docker.io/library/assay:1')).toBe('docker.io/library/assay:1');
    expect(isReservedTag('localhost:5000/assay/onnx-runner:1.1.0')).toBe(false);
    expect(isReservedTag('assay-attack/x:1')).toBe(false);
  });
});

// The hostile-archive corpus: each layer hides `../` (or worse) behind a trick on which Assay's old reader and
// dockerd's (Go archive/tar) disagreed, or is something Docker would extract unsafely. Every one is refused with a
// precise code, naming the layer, and none is ever loaded.
const HIDDEN = '../../../../tmp/assay-pwned';
const hiddenHeader = (): Buffer => rawTar([{ name: HIDDEN, typeflag: '0', body: 'pwned' }], { end: false });

describe('hostile archive corpus', () => {
  const cases: [string, RawEntry[], ImageIntakeCode, RegExp, { end?: boolean; after?: Buffer }?][] = [
    ['a character device with a body (Go reads no body; the body is the next header)', [{ name: 'dev/c', typeflag: '3', body: hiddenHeader() }], 'special_file', /character device 'dev\/c'/],
    ['a block device with a body', [{ name: 'dev/b', typeflag: '4', body: hiddenHeader() }], 'special_file', /block device 'dev\/b'/],
    ['a FIFO with a body', [{ name: 'app/fifo', typeflag: '6', body: hiddenHeader() }], 'special_file', /FIFO 'app\/fifo'/],
    ['a device node without a body', [{ name: 'dev/null', typeflag: '3' }], 'special_file', /character device/],
    ['a symlink with a body', [{ name: 'app/l', typeflag: '2', linkname: 'run.sh', body: hiddenHeader() }], 'ambiguous_archive', /symlink 'app\/l' carries a body of 1024 bytes/],
    ['a directory with a size', [{ name: 'app/d/', typeflag: '5', size: 1024, body: hiddenHeader() }], 'ambiguous_archive', /carries a body/],
    ['an old-style regular file named dir/ with a size (typeflag 0)', [{ name: 'app/', typeflag: '0', body: hiddenHeader() }], 'ambiguous_archive', /regular file 'app\/' is named like a directory/],
    ['an old-style regular file named dir/ with a size (typeflag NUL)', [{ name: 'app/', typeflag: '\0', body: hiddenHeader() }], 'ambiguous_archive', /named like a directory/],
    ['a pax path plus a GNU long name on one entry', [{ name: 'short', typeflag: '0', pax: [['path', 'app/harmless']], gnuLongName: HIDDEN, body: 'x' }], 'ambiguous_archive', /both a pax path and a GNU long name/],
    ['file capabilities in a pax xattr (setuid by another name)', [{ name: 'app/ping', typeflag: '0', pax: [['SCHILY.xattr.security.capability', 'x']], body: 'x' }], 'setuid_file', /file capabilities/],
    ['a user xattr dockerd may fail to apply (was: docker load failed, run internal)', [{ name: 'app/link', typeflag: '0', pax: [['SCHILY.xattr.user.x', 'y']], body: 'x' }], 'ambiguous_archive', /pax key 'SCHILY\.xattr\.user\.x' is not accepted/],
    ['an unknown pax key', [{ name: 'app/f', typeflag: '0', pax: [['VENDOR.thing', 'y']], body: 'x' }], 'ambiguous_archive', /not accepted/],
    ['two pax headers for one entry', [{ name: 'short', typeflag: '0', pax: [['path', HIDDEN]], pax2: [['path', 'app/ok']], body: 'x' }], 'ambiguous_archive', /two pax headers/],
    ['a global pax header', [{ name: 'app/x', typeflag: '0', paxGlobal: [['path', HIDDEN]], body: 'x' }], 'ambiguous_archive', /global pax header/],
    ['a pax path with a NUL byte', [{ name: 'short', typeflag: '0', pax: [['path', `app/ok\0${HIDDEN}`]], body: 'x' }], 'ambiguous_archive', /NUL/],
    ['a GNU header whose prefix area spells a directory (Go ignores it)', [{ name: HIDDEN, typeflag: '0', magic: 'gnu', prefix: 'app/safe', body: 'x' }], 'path_traversal', /escapes the image root/],
    ['a ustar prefix that climbs out', [{ name: 'etc/cron.d/x', typeflag: '0', prefix: '../../..', body: 'x' }], 'path_traversal', /'..\/..\/..\/etc\/cron.d\/x' escapes/],
    ['a star header with a prefix longer than star allows', [{ name: 'x', typeflag: '0', magic: 'star', prefix: `${'a/'.repeat(70)}b`, body: 'x' }], 'ambiguous_archive', /readers disagree/],
    ['a pre-POSIX (v7) header', [{ name: 'app/v7', typeflag: '0', magic: 'v7', body: 'x' }], 'not_a_docker_archive', /tar/],
    ['a size field that is not octal', [{ name: 'app/x', typeflag: '0', sizeField: '0000000001x\0', body: 'x' }], 'ambiguous_archive', /not octal/],
    ["typeflag 'N' (tar-stream reads it as a GNU long name, Go as an entry)", [{ name: 'app/n', typeflag: 'N', body: `${HIDDEN}\0` }, { name: 'app/ok', typeflag: '0', body: 'x' }], 'ambiguous_archive', /framing disagrees|not supported/],
    ['a contiguous file (type 7, which Docker does not extract)', [{ name: 'app/c', typeflag: '7', body: 'x' }], 'ambiguous_archive', /not supported/],
    ['the same name twice', [{ name: 'app/run.sh', typeflag: '0', body: 'a' }, { name: './app/run.sh', typeflag: '0', body: 'b' }], 'duplicate_entry', /'.\/app\/run.sh' appears twice in the layer/],
    ['a file and a directory of the same name', [{ name: 'app/x', typeflag: '0', body: 'a' }, { name: 'app/x/', typeflag: '5' }], 'duplicate_entry', /appears twice/],
    ['a setuid file', [{ name: 'app/su', typeflag: '0', mode: 0o4755, body: 'x' }], 'setuid_file', /'app\/su' is setuid\/setgid \(mode 4755\)/],
    ['a setgid file', [{ name: 'app/sg', typeflag: '0', mode: 0o2755, body: 'x' }], 'setuid_file', /setuid\/setgid/],
    ['a hard link to a file the layer does not hold', [{ name: 'app/h', typeflag: '1', linkname: 'etc/shadow' }], 'path_traversal', /does not point at a file earlier in the layer/],
    ['a hard link with a body', [{ name: 'app/a', typeflag: '0', body: 'a' }, { name: 'app/h', typeflag: '1', linkname: 'app/a', body: hiddenHeader() }], 'ambiguous_archive', /carries a body/],
    ['an entry written through a symlink of the same layer', [{ name: 'app/l', typeflag: '2', linkname: '/etc' }, { name: 'app/l/passwd', typeflag: '0', body: 'x' }], 'path_traversal', /written through the symlink 'app\/l'/],
    ['an entry after the end-of-archive marker (Go stops there, tar-stream reads on)', [{ name: 'app/ok', typeflag: '0', body: 'x' }], 'ambiguous_archive', /end-of-archive|not the end-of-archive marker/, { after: rawTar([{ name: HIDDEN, typeflag: '0', body: 'x' }]) }],
    ['a name that is not UTF-8', [{ name: 'app/\xff\xfe', typeflag: '0', body: 'x' }], 'ambiguous_archive', /UTF-8/],
  ];

  // Rest parameter: jest reads a test function with more declared parameters than the row as wanting `done`.
  it.each(cases)('rejects %s', async (_what, entries, code, detail, ...rest) => {
    let layer = rawTar(entries, rest[0]);
    if (_what.includes('not UTF-8')) {
      // Write the raw bytes 0xff 0xfe into the name field (the writer writes UTF-8) and fix the checksum.
      layer = Buffer.from(layer);
      layer[4] = 0xff;
      layer[5] = 0xfe;
      layer.fill(0x20, 148, 156);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += layer[i] ?? 0;
      layer.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    }
    const { archive } = dockerSave({ layers: [appLayer(), layer], gzipLayers: [1] });
    const r = await inspect(archive);
    expect(r).toMatchObject({ ok: false, code });
    if (r.ok) return;
    if (code !== 'not_a_docker_archive') expect(r.message).toMatch(/^layer 2 \(sha256:[0-9a-f]{12}…\): /);
    expect(r.message).toMatch(detail);
  });

  it('accepts what real layers hold: setgid directories, hard links to earlier files, absolute symlinks, whiteouts', async () => {
    const layer = rawTar([
      { name: 'var/mail/', typeflag: '5', mode: 0o2775 },
      { name: 'app/a', typeflag: '0', body: 'a' },
      { name: 'app/b', typeflag: '1', linkname: 'app/a' },
      { name: 'usr/bin/py', typeflag: '2', linkname: '/usr/bin/python3' },
      { name: 'etc/.wh.motd', typeflag: '0' },
      { name: `${'d'.repeat(90)}/file`, typeflag: '0', prefix: 'long/prefix', body: 'x' },
    ]);
    const r = await inspect({ layers: [appLayer(), layer] });
    if (!r.ok) throw new Error(r.message);
  });

  it('rejects a duplicated outer manifest.json (a symlink, then a file) as the vendor\'s fault, not internal', async () => {
    // docker load fails on this archive ("manifest.json" cannot be extracted over the link), which the worker
    // counted as its own fault (retried, then `internal`); the intake refuses it with a reason.
    const { archive } = dockerSave({ layers: [appLayer()] });
    const manifest = Buffer.from(JSON.stringify([{ Config: 'x.json', RepoTags: [], Layers: [] }]));
    // Put a symlink named manifest.json first, then the real archive's entries (its own manifest.json last).
    const dup = Buffer.concat([rawTar([{ name: 'manifest.json', typeflag: '2', linkname: 'other.json' }, { name: 'other.json', typeflag: '0', body: manifest }], { end: false }), archive]);
    const r = await inspect(dup);
    expect(r).toMatchObject({ ok: false, code: 'duplicate_entry' });
    if (!r.ok) expect(r.message).toBe("the archive: 'manifest.json' appears twice in the archive (readers disagree on which copy wins)");
  });

  it('rejects two files named manifest.json in the outer archive', async () => {
    const { archive } = dockerSave({ layers: [appLayer()] });
    const dup = Buffer.concat([rawTar([{ name: 'manifest.json', typeflag: '0', body: '[]' }], { end: false }), archive]);
    expect(await inspect(dup)).toMatchObject({ ok: false, code: 'duplicate_entry' });
  });
});

describe('bounded memory', () => {
  /** A docker-save-like archive streamed from a generator: `count` non-JSON blobs of `size` bytes, then a real image. */
  async function* manyBlobs(count: number, size: number, blob: Buffer): AsyncGenerator<Buffer> {
    for (let i = 0; i < count; i++) {
      yield rawTar([{ name: `junk/${i}.bin`, typeflag: '0', size }], { end: false }).subarray(0, 512);
      for (let off = 0; off < size; off += blob.length) yield blob.subarray(0, Math.min(blob.length, size - off));
      yield Buffer.alloc((512 - (size % 512)) % 512);
    }
    yield dockerSave({ layers: [appLayer()] }).archive;
  }

  it('holds no blob in memory: 48 blobs just under 8 MiB each (384 MiB) stay out of the heap', async () => {
    const blob = Buffer.alloc(1 << 20, 0x41); // 'A': neither tar, gzip nor JSON
    const size = (8 << 20) - 1;
    const before = process.memoryUsage();
    let peak = 0;
    const sample = (): void => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - (before.heapUsed + before.arrayBuffers));
    };
    const timer = setInterval(sample, 5);
    const r = await inspectImageTarball(Readable.from(manyBlobs(48, size, blob)), LIMITS);
    clearInterval(timer);
    sample();
    if (!r.ok) throw new Error(r.message);
    // The old intake kept every such blob (48 x 8 MiB = 384 MiB); streaming garbage aside, the intake keeps none.
    expect(peak).toBeLessThan(160 << 20);
  }, 120_000);

  it('caps JSON metadata for the whole archive: many JSON blobs are too_large, not held', async () => {
    async function* jsonBlobs(): AsyncGenerator<Buffer> {
      const json = Buffer.from(`[${'1,'.repeat((1 << 20) / 2 - 2)}1]`);
      for (let i = 0; i < 20; i++) yield rawTar([{ name: `meta/${i}.json`, typeflag: '0', body: json }], { end: false });
      yield dockerSave({ layers: [appLayer()] }).archive;
    }
    const r = await inspectImageTarball(Readable.from(jsonBlobs()), LIMITS);
    expect(r).toMatchObject({ ok: false, code: 'too_large' });
    if (!r.ok) expect(r.message).toMatch(/metadata past 8388608 bytes/);
  });

  it('caps the entries of the outer archive and of a layer', async () => {
    const many = tar(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, body: 'x' })));
    expect(await inspect({ layers: [appLayer(), many] }, { ...LIMITS, maxLayerEntries: 20 })).toMatchObject({ ok: false, code: 'too_large', message: expect.stringMatching(/^layer 2 .*the layer has more than 20 entries$/) });
    expect(await inspect({ layers: [appLayer()] }, { ...LIMITS, maxArchiveEntries: 3 })).toMatchObject({ ok: false, code: 'too_large', message: 'the archive: the archive has more than 3 entries' });
  });
});
