import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { inspectImageTarball, type ImageIntakeCode, type ImageIntakeLimits, type InspectedImage } from './image-intake';

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

/**
 * Inspects a tarball and, when accepted, loads it (unless the engine already holds that image ID). The image ID
 * returned pins every run; it must equal the config digest the intake computed, or the load is undone.
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
  const { imageId } = await sandbox.loadImage(path);
  if (imageId !== image.configDigest) {
    // The engine loaded something other than what was inspected (a changed file?): never run it.
    await sandbox.removeImage(imageId).catch(() => undefined);
    throw new Error(`docker load produced ${imageId}, but the intake inspected ${image.configDigest}`);
  }
  return { ok: true, tarballSha256: verdict.tarballSha256, imageId, image, alreadyLoaded: false, loadMs: Date.now() - t0 };
}
