import { existsSync, promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AppConfig } from '../config/config.schema';
import type { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';

// Which image is the facility's ONNX runner: an image ID recorded by scripts/build-images.sh when it built the
// image, never whatever a tag or label says now (a tag can be moved and a label forged by any image). The worker
// resolves it once and starts every ONNX run by that ID.

export interface ImageRecord {
  tag: string;
  id: string;
  version?: string;
}

export type RunnerImageSource = 'config-id' | 'build-record' | 'tag';

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** build-images.sh's file name for a tag's record: `assay/onnx-runner:1.1.0` -> `assay_onnx-runner_1.1.0.json`. */
export function recordFileName(tag: string): string {
  return `${tag.replace(/[/:@]/g, '_')}.json`;
}

/** The checkout or installation this code runs from (where build-images.sh writes by default). */
function installRoot(): string | null {
  let d = __dirname;
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  return null;
}

/** Where records are looked for, in order: the data dir, then the installation's own .assay (the script's default). */
export function recordPaths(config: Pick<AppConfig, 'dataDir'>, tag: string): string[] {
  const root = installRoot();
  const dirs = [resolve(config.dataDir, 'images'), ...(root ? [join(root, '.assay', 'images')] : [])];
  return [...new Set(dirs)].map((d) => join(d, recordFileName(tag)));
}

export async function readImageRecord(file: string): Promise<ImageRecord | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const r = JSON.parse(text) as Partial<ImageRecord>;
  if (typeof r.tag !== 'string' || typeof r.id !== 'string' || !IMAGE_ID.test(r.id)) throw new Error(`image record ${file} is malformed`);
  return { tag: r.tag, id: r.id, ...(typeof r.version === 'string' ? { version: r.version } : {}) };
}

/**
 * The runner's image ID. ASSAY_RUNNER_IMAGE may be an image ID (pinned by the operator); otherwise it is a tag, and
 * the ID comes from build-images.sh's record for that tag. Without a record, production refuses to start;
 * development and test fall back to the tag, with a warning.
 */
export async function resolveRunnerImage(
  sandbox: Pick<DockerSandboxAdapter, 'inspectImage'>,
  config: Pick<AppConfig, 'dataDir' | 'mode'> & { sandbox: Pick<AppConfig['sandbox'], 'runnerImage'> },
  log: { warn: (m: string) => void; error: (m: string) => void },
): Promise<{ id: string; source: RunnerImageSource; record?: string }> {
  const ref = config.sandbox.runnerImage;
  if (IMAGE_ID.test(ref)) {
    const image = await sandbox.inspectImage(ref);
    if (!image || image.id !== ref) throw new Error(`runner image ${ref} (ASSAY_RUNNER_IMAGE) is not in the Docker engine`);
    return { id: ref, source: 'config-id' };
  }
  for (const file of recordPaths(config, ref)) {
    const record = await readImageRecord(file);
    if (!record || record.tag !== ref) continue;
    const image = await sandbox.inspectImage(record.id);
    if (!image || image.id !== record.id) throw new Error(`runner image ${record.id}, recorded for ${ref} in ${file}, is gone from the engine; run scripts/build-images.sh`);
    const tagged = await sandbox.inspectImage(ref);
    if (tagged?.id !== record.id) {
      log.error(`runner tag ${ref} points at ${tagged?.id ?? 'nothing'}, not at the image build-images.sh recorded (${record.id}); running the recorded image`);
    }
    return { id: record.id, source: 'build-record', record: file };
  }
  if (config.mode === 'production') {
    throw new Error(`no build record for runner image ${ref} (looked in ${recordPaths(config, ref).join(', ')}); run scripts/build-images.sh or set ASSAY_RUNNER_IMAGE to an image ID`);
  }
  const image = await sandbox.inspectImage(ref);
  if (!image) throw new Error(`runner image ${ref} is missing (run scripts/build-images.sh)`);
  log.warn(`runner image ${ref} resolved by tag to ${image.id}: no build record (scripts/build-images.sh writes one); production refuses this`);
  return { id: image.id, source: 'tag' };
}
