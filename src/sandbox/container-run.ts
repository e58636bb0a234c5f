import { promises as fs } from 'node:fs';
import { join, posix } from 'node:path';
import type { DockerSandboxAdapter } from './docker-sandbox.adapter';
import type { BatchManifest } from './onnx-runner.service';
import { outputFileKind, readCapped, type OutputFileKind, type ReleasedOutput } from './output-dir';
import type { SandboxLimits, SandboxResult, SandboxRuntime } from './sandbox.types';

// Runs a vendor's own image on one batch under the same contract as the ONNX runner: /input read-only
// (manifest.json + cases/<caseId>/...), /output capped, the image's own ENTRYPOINT/CMD, its own non-root user.

export const PREDICTIONS_FILE = 'predictions.jsonl';
const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The run failure codes of DESIGN.md that a sandbox outcome can produce (rejected_image comes from the intake). */
export type SandboxFailureCode = 'timeout' | 'out_of_memory' | 'exit_nonzero' | 'invalid_output' | 'missing_predictions';

export interface VendorImageRef {
  /** Image ID (sha256:…) from loadImage: runs are pinned by ID, never by tag. */
  imageId: string;
  /** Numeric identity from the intake (InspectedImage.runAs); validated non-root again by the profile. */
  runAs: { uid: number; gid: number };
  /** The image's WORKDIR (InspectedImage.workingDir); '' = '/'. */
  workingDir?: string;
}

export interface VendorBatchRun {
  image: VendorImageRef;
  /** Private scratch directory for this batch (created if missing); input/ and output/ go under it. */
  workDir: string;
  batch: BatchManifest;
  /** Case files to copy in: caseId -> { path relative to /input/cases/<caseId>/ -> host file }. */
  caseFiles?: Record<string, Record<string, string>>;
  limits: SandboxLimits;
  runtime: SandboxRuntime;
  gpus?: { deviceIds: string[] };
  labels?: Record<string, string>;
  /** Stops the container when the work is abandoned (SandboxRunSpec.signal). */
  signal?: AbortSignal;
}

export interface VendorBatchOutcome {
  result: SandboxResult;
  /** Text of /output/predictions.jsonl; null when absent, not a regular file, or over the output cap. */
  predictions: string | null;
  /** What the sandbox left at /output/predictions.jsonl, seen before links were dropped. */
  predictionsFile: OutputFileKind;
  /** Host path of the released output dir (masks/ for segmentation are read from here by the caller). */
  outputDir: string;
  /** null when the sandbox side succeeded; the scorer still checks each line against the task's schema. */
  failure: SandboxFailureCode | null;
}

function assertRelative(p: string, what: string): string {
  const n = posix.normalize(p);
  if (posix.isAbsolute(n) || n === '..' || n.startsWith('../') || n === '.') throw new Error(`${what} must stay under its case dir: ${p}`);
  return n;
}

/** Writes /input for a batch: world-readable, since the image's own uid must read it. */
export async function writeBatchInput(inputDir: string, batch: BatchManifest, caseFiles: VendorBatchRun['caseFiles'] = {}): Promise<void> {
  await fs.mkdir(join(inputDir, 'cases'), { recursive: true, mode: 0o755 });
  for (const c of batch.cases) {
    if (!CASE_ID.test(c.caseId)) throw new Error(`invalid case id: ${c.caseId}`);
    const dir = join(inputDir, 'cases', c.caseId);
    await fs.mkdir(dir, { mode: 0o755 });
    for (const [rel, hostFile] of Object.entries(caseFiles[c.caseId] ?? {})) {
      const target = join(dir, assertRelative(rel, 'case file'));
      await fs.mkdir(join(target, '..'), { recursive: true, mode: 0o755 });
      await fs.copyFile(hostFile, target);
      await fs.chmod(target, 0o644);
    }
  }
  await fs.writeFile(join(inputDir, 'manifest.json'), JSON.stringify(batch), { mode: 0o644 });
}

/** How the container ended, before its output is looked at: the limit it hit, a non-zero exit, or null (exit 0). */
export function classifyContainerExit(result: SandboxResult): 'timeout' | 'out_of_memory' | 'invalid_output' | 'exit_nonzero' | null {
  if (result.timedOut) return 'timeout';
  if (result.oomKilled) return 'out_of_memory';
  // Truncated output is never scored, whatever the exit code; nor is an /output the release refused.
  if (result.outputExceeded || result.outputRefused !== null) return 'invalid_output';
  if (result.exitCode !== 0) return 'exit_nonzero';
  return null;
}

/** The result with what the release of /output refused (releaseOutputDir) folded in: the verdict is one object. */
export function withReleasedOutput(result: SandboxResult, released: ReleasedOutput): SandboxResult {
  return released.refused ? { ...result, outputRefused: released.refused.detail } : result;
}

/** Maps what the sandbox reported to a run failure code; the first that applies wins. */
export function classifySandboxOutcome(result: SandboxResult, predictionsFile: OutputFileKind, predictions: string | null): SandboxFailureCode | null {
  const exit = classifyContainerExit(result);
  if (exit) return exit;
  if (predictionsFile === 'not_a_file') return 'invalid_output';
  if (predictionsFile === 'absent') return 'missing_predictions';
  if (predictions === null) return 'invalid_output';
  return null;
}

/**
 * Runs one batch in a vendor image. Never overrides ENTRYPOINT/CMD. Throws only for Docker or host failures
 * (the caller marks those `internal`); everything the container does is in the outcome.
 */
export async function runVendorBatch(sandbox: DockerSandboxAdapter, run: VendorBatchRun): Promise<VendorBatchOutcome> {
  await fs.mkdir(run.workDir, { recursive: true, mode: 0o755 });
  await fs.chmod(run.workDir, 0o755);
  const input = join(run.workDir, 'input');
  const output = join(run.workDir, 'output');
  await writeBatchInput(input, run.batch, run.caseFiles);
  let result: SandboxResult;
  let predictionsFile: OutputFileKind = 'absent';
  let released: ReleasedOutput | null = null;
  let releaseError: unknown;
  try {
    result = await sandbox.run({
      image: run.image.imageId,
      mounts: [{ hostPath: input, containerPath: '/input', readOnly: true }],
      outputDir: output,
      limits: run.limits,
      runtime: run.runtime,
      user: run.image.runAs,
      workingDir: run.image.workingDir || '/',
      ...(run.gpus ? { gpus: run.gpus } : {}),
      labels: run.labels ?? {},
      ...(run.signal ? { signal: run.signal } : {}),
    });
    // The container is gone: nothing can swap the file now. Seen before release drops links and FIFOs.
    predictionsFile = await outputFileKind(join(output, PREDICTIONS_FILE));
  } finally {
    // Always, also when the run threw (its error wins then); a failed release is Assay's fault, never swallowed.
    released = await sandbox.releaseOutputDir(output, run.limits.outputBytes).catch((err: unknown) => {
      releaseError = err;
      return null;
    });
  }
  if (!released) throw releaseError;
  result = withReleasedOutput(result, released);
  const predictions = await readCapped(join(output, PREDICTIONS_FILE), run.limits.outputBytes);
  return { result, predictions, predictionsFile, outputDir: output, failure: classifySandboxOutcome(result, predictionsFile, predictions) };
}
