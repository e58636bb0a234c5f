import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pack } from 'tar-stream';
import type { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { inspectImageTarball, type ImageIntakeCode, type ImageIntakeLimits, type InspectedImage } from './image-intake';
import { readTar } from './tar-reader';
import { isTransientInfraFault } from '../queue/transient-faults';

// Intake, then load: the one path by which a vendor's tarball reaches the Docker engine. The caller dedups by the
// tarball's sha256 (same bytes: reuse the stored verdict) and, through this function, by image ID (same image in
// different bytes, e.g. re-gzipped: recognised in the engine and not loaded twice).

export type ImageAdmission =
  | { ok: true; tarballSha256: string; imageId: string; image: InspectedImage; alreadyLoaded: boolean; loadMs: number }
  | { ok: false; tarballSha256: string; code: ImageIntakeCode; message: string };

/** sha256 of a file and the intake verdict, in one streaming read. */
export async function inspectTarballFile(path: string, limits: ImageIntakeLimits): Promise<{ tarballSha256: string } & Awaited<ReturnType<typeof inspectImageTarball>>> {
  const hash = createHash('sha256');
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  file.on('data', (c: string | Buffer) => {
    hash.update(c);
  });
  file.on('error', (e) => tee.destroy(e));
  file.pipe(tee);
  const verdict = await inspectImageTarball(tee, limits);
  // The intake may stop early on a malformed archive: finish hashing what it did not read.
  tee.resume();
  if (!file.closed) await new Promise<void>((resolve, reject) => file.on('close', resolve).on('error', reject));
  return { tarballSha256: hash.digest('hex'), ...verdict };
}

const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

/**
 * The archive Docker is given: the inspected config and layer blobs (re-read from the file and checked against the
 * digests the intake computed), under names Assay chooses, and a manifest.json of Assay's own with `RepoTags: null`
 * and nothing else (no Parent, no LayerSources, no `repositories` file). So a vendor archive can neither set nor move
 * any tag, nor make dockerd read an entry the intake did not.
 */
export function canonicalArchive(path: string, image: InspectedImage, limits: ImageIntakeLimits): Readable {
  const out = pack();
  const wanted = new Map<string, { name: string; digest: string }>();
  wanted.set(image.configPath, { name: `${hexOf(image.configDigest)}.json`, digest: image.configDigest });
  for (const l of image.layers) wanted.set(l.path, { name: `${hexOf(l.digest)}/layer.tar`, digest: l.digest });
  const manifest = [{ Config: `${hexOf(image.configDigest)}.json`, RepoTags: null, Layers: image.layers.map((l) => `${hexOf(l.digest)}/layer.tar`) }];
  const write = async (): Promise<void> => {
    const fh = await fs.open(path, 'r');
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    await fh.close();
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    let source: Readable = file;
    if (head[0] === 0x1f && head[1] === 0x8b) {
      const gunzip = createGunzip();
      file.on('error', (e) => gunzip.destroy(e));
      source = file.pipe(gunzip);
    }
    const written = new Set<string>();
    try {
      for await (const { entry, body } of readTar(source, { what: 'archive', maxEntries: limits.maxArchiveEntries ?? 10_000 })) {
        const w = wanted.get(entry.path);
        if (entry.type !== 'file' || !w || written.has(entry.path)) continue;
        written.add(entry.path);
        const hash = createHash('sha256');
        await new Promise<void>((resolve, reject) => {
          const sink = out.entry({ name: w.name, size: entry.size, mode: 0o644, type: 'file' }, (err) => (err ? reject(err) : resolve()));
          void (async () => {
            for await (const c of body) {
              hash.update(c);
              if (!sink.write(c)) await new Promise<void>((r) => sink.once('drain', () => r()));
            }
            sink.end(undefined); // (streamx types want an argument)
          })().catch(reject);
        });
        const got = `sha256:${hash.digest('hex')}`;
        // The file changed since the intake read it: never hand Docker bytes that were not inspected.
        if (got !== w.digest) throw new Error(`'${entry.path}' now hashes to ${got}, not the inspected ${w.digest}`);
      }
    } finally {
      file.destroy();
    }
    for (const p of wanted.keys()) if (!written.has(p)) throw new Error(`'${p}' vanished from the archive after intake`);
    out.entry({ name: 'manifest.json', mode: 0o644 }, JSON.stringify(manifest));
    out.finalize();
  };
  write().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return Readable.from(out);
}

/**
 * Inspects a tarball and, when accepted, loads it (unless the engine already holds that image ID) from the
 * canonical archive, so it arrives untagged. The image ID returned pins every run; it must equal the config digest
 * the intake computed, and the loaded image must carry no tag, or the load is undone.
 * A rejection maps to the run failure `rejected_image` with `code` and `message` shown to the vendor.
 */
export async function admitImageTarball(sandbox: DockerSandboxAdapter, path: string, limits: ImageIntakeLimits): Promise<ImageAdmission> {
  const verdict = await inspectTarballFile(path, limits);
  if (!verdict.ok) return { ok: false, tarballSha256: verdict.tarballSha256, code: verdict.code, message: verdict.message };
  const image = verdict.image;
  if (await sandbox.isImageLoaded(image.configDigest)) {
    return { ok: true, tarballSha256: verdict.tarballSha256, imageId: image.configDigest, image, alreadyLoaded: true, loadMs: 0 };
  }
  const t0 = Date.now();
  let imageId: string;
  const archive = canonicalArchive(path, image, limits);
  try {
    ({ imageId } = await sandbox.loadImage(archive));
  } catch (error) {
    // The engine stopped reading: stop the archive too, so no later read error goes unhandled.
    archive.on('error', () => undefined);
    archive.destroy();
    // The engine refused bytes the intake accepted: the vendor's archive, unless the engine or the host failed.
    if (isTransientInfraFault(error) || /no space left|ENOSPC|Cannot connect to the Docker daemon/i.test(String(error))) throw error;
    return { ok: false, tarballSha256: verdict.tarballSha256, code: 'load_failed', message: `docker could not load the image: ${String(error instanceof Error ? error.message : error).slice(0, 500)}` };
  }
  if (imageId !== image.configDigest) {
    // The engine loaded something other than what was inspected: never run it.
    await sandbox.removeImage(imageId).catch(() => undefined);
    throw new Error(`docker load produced ${imageId}, but the intake inspected ${image.configDigest}`);
  }
  const loaded = await sandbox.inspectImage(imageId);
  if (!loaded) throw new Error(`docker load reported ${imageId}, but the engine does not hold it`);
  if (loaded.repoTags.length > 0) {
    // Only the archive's tags could land on a freshly loaded image, and the canonical archive has none.
    throw new Error(`the loaded vendor image ${imageId} carries tags ${loaded.repoTags.join(', ')}; refusing to run it`);
  }
  return { ok: true, tarballSha256: verdict.tarballSha256, imageId, image, alreadyLoaded: false, loadMs: Date.now() - t0 };
}
