import { Inject, Injectable } from '@nestjs/common';
import { promises as fs } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { admitImageTarball } from '../containers/image-loader';
import { hostArchitecture } from '../containers/image-intake';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { classifyContainerExit, classifySandboxOutcome, runVendorBatch } from '../sandbox/container-run';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { type BatchManifest, OnnxRunnerService } from '../sandbox/onnx-runner.service';
import { LABEL_RUN } from '../sandbox/sandbox-profile';
import type { SandboxLimits, SandboxResult } from '../sandbox/sandbox.types';
import { StorageService } from '../storage/storage.service';
import { staticOnnxCheck } from '../submissions/onnx-static-check';
import type { ContainerImageInfo, ContainerManifest, OnnxModelManifest, SubmissionEntity, SubmissionManifest } from '../submissions/submissions.entity';
import { MAX_OUTPUT_FILE_BYTES, type OutputReader, OutputTooLargeError } from '../tasks/task-definition';
import { sandboxFault, type VendorFault } from './sandbox-faults';
import type { FailureReason } from './evaluation.entity';

export interface BatchRequest {
  /** This batch's private directory (input, output). */
  workDir: string;
  batch: BatchManifest;
  /** Image tasks: caseId -> { path relative to /input/cases/<caseId>/ -> host file } (downloaded by the run). */
  caseFiles?: Record<string, Record<string, string>>;
  /** 1-based, for messages. */
  batchNumber: number;
  limits: SandboxLimits;
  gpus?: { deviceIds: string[] };
  runId: string;
  /** Stops the batch's container when the run is abandoned (a node's job cancelled at the hub). */
  signal?: AbortSignal;
}

export interface BatchOutcome {
  result: SandboxResult;
  /** Text of /output/predictions.jsonl; null when absent or unreadable. */
  output: string | null;
  /** Other files the algorithm wrote under /output (collected, links dropped), e.g. masks/<caseId>.nii.gz. */
  readOutput: OutputReader;
  imageId: string;
  runtime: string;
  /** What the vendor's algorithm did wrong in this batch (timeout, exit code, bad output), if anything. */
  fault: VendorFault | null;
}

/** The check step before any run: one attempt, in a fresh private directory. */
export interface CheckRequest {
  workDir: string;
  definition: BenchmarkDefinition;
  limits: SandboxLimits;
  /** The LABEL_RUN value of the check's container (the sweep finds what a killed check left by it). */
  label: string;
  /** Stops the check's container when the work is abandoned. */
  signal?: AbortSignal;
}

/** What the check concluded about the vendor's submission. Assay's own faults are thrown, never a verdict. */
export interface CheckVerdict {
  ok: boolean;
  reason: string | null;
  report: Record<string, unknown>;
  /** The manifest to record on acceptance (a container's admitted image). */
  manifest?: SubmissionManifest;
  /** Intake refused the image: the first phase's run records it as `rejected_image`. */
  rejectedImage?: boolean;
  /** The check's container ran out of time or memory (the algorithm near its limits), as opposed to a verdict on its contents. */
  sandboxFault?: FailureReason;
}

/**
 * Checks and runs a submission in the sandbox under the algorithm contract. One implementation per kind of submission
 * (the facility's ONNX runner, a vendor's image), chosen once per run or check by `executorFor`; a fake for unit tests.
 */
export interface BatchExecutor {
  /** May this submission run at all (the model loads and fits the interface; the image passes intake and loads)? */
  check(request: CheckRequest): Promise<CheckVerdict>;
  /** Makes the algorithm runnable on this worker (download the model, load the image); once per attempt. */
  prepare(workDir: string): Promise<void>;
  runBatch(request: BatchRequest): Promise<BatchOutcome>;
}

/** The runner's answer in check mode (/output/check.json). */
interface RunnerCheckReport {
  ok: boolean;
  problems?: string[];
  model?: unknown;
}

/** Reads files under a collected output directory: relative paths only, plain files only (never a link). */
export function outputReader(dir: string): OutputReader {
  return async (relativePath, options) => {
    const rel = normalize(relativePath);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) return null;
    const path = join(dir, rel);
    const stat = await fs.lstat(path).catch(() => null);
    if (!stat?.isFile()) return null;
    // Refused by its size before it is read: a 3 GiB mask would fail readFile (Assay's error, retried) or fill the heap.
    const maxBytes = Math.min(options?.maxBytes ?? MAX_OUTPUT_FILE_BYTES, MAX_OUTPUT_FILE_BYTES);
    if (stat.size > maxBytes) throw new OutputTooLargeError(relativePath, stat.size, maxBytes);
    return fs.readFile(path);
  };
}

/** ONNX submissions: the facility's runner image loads the vendor's model.onnx. */
export class OnnxRunnerExecutor implements BatchExecutor {
  private modelFile: string | null = null;

  constructor(private readonly deps: { runner: OnnxRunnerService; storage: StorageService; submission: SubmissionEntity }) {}

  /**
   * The static signature check first (a misfit is rejected before any sandbox), then the model is loaded in
   * onnxruntime inside the sandbox. The static inspection is kept on the submission's report even if the sandbox
   * step then fails through Assay's fault.
   */
  async check(request: CheckRequest): Promise<CheckVerdict> {
    const { storage, runner, submission } = this.deps;
    const def = request.definition;
    const fit = staticOnnxCheck(await storage.getBuffer('submissions', submission.objectKey), submission.manifest as OnnxModelManifest, def.interface, def.slug);
    submission.checkReport = { ...submission.checkReport, static: fit.inspection, ...(fit.ok ? {} : { problems: fit.problems }) };
    if (!fit.ok) return { ok: false, reason: fit.reason, report: submission.checkReport };
    const modelFile = join(request.workDir, 'model.onnx');
    await storage.downloadToFile('submissions', submission.objectKey, modelFile);
    const outcome = await runner.invoke({
      mode: 'check',
      workDir: join(request.workDir, 'sandbox'),
      modelFile,
      modelManifest: submission.manifest,
      batch: { benchmark: def.slug, task: def.task, interface: def.interface, cases: [] },
      limits: request.limits,
      labels: { [LABEL_RUN]: request.label },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    let report: RunnerCheckReport | null = null;
    try {
      report = outcome.output ? (JSON.parse(outcome.output) as RunnerCheckReport) : null;
    } catch {
      report = null;
    }
    const exit = classifyContainerExit(outcome.result);
    const fault = exit ? sandboxFault(exit, { result: outcome.result, limits: request.limits }) : null;
    if (report) return { ok: report.ok === true, reason: report.ok ? null : (report.problems ?? []).join('; ') || 'the model failed its check', report: { ...submission.checkReport, sandbox: report } };
    if (fault && fault.reason !== 'exit_nonzero') return { ok: false, reason: `loading the model ${fault.detail}`, report: { ...submission.checkReport }, sandboxFault: fault.reason };
    if (outcome.result.exitCode === null) throw new Error('the check container produced no exit code');
    return { ok: false, reason: `the model could not be checked (${fault?.detail ?? 'no check report'})`, report: { ...submission.checkReport } };
  }

  async prepare(workDir: string): Promise<void> {
    const modelFile = join(workDir, 'model.onnx');
    await this.deps.storage.downloadToFile('submissions', this.deps.submission.objectKey, modelFile);
    this.modelFile = modelFile;
  }

  async runBatch(request: BatchRequest): Promise<BatchOutcome> {
    if (!this.modelFile) throw new Error('OnnxRunnerExecutor.runBatch before prepare');
    const o = await this.deps.runner.invoke({
      mode: 'predict',
      workDir: request.workDir,
      modelFile: this.modelFile,
      modelManifest: this.deps.submission.manifest,
      batch: request.batch,
      ...(request.caseFiles ? { caseFiles: request.caseFiles } : {}),
      limits: request.limits,
      ...(request.gpus ? { gpus: request.gpus } : {}),
      labels: { [LABEL_RUN]: request.runId },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    // The runner reads predictions without following links; a missing or unreadable file is invalid output.
    const code = classifySandboxOutcome(o.result, 'file', o.output);
    return {
      result: o.result,
      output: o.output,
      readOutput: outputReader(join(request.workDir, 'output')),
      imageId: o.imageId,
      runtime: o.runtime,
      fault: code ? sandboxFault(code, { result: o.result, limits: request.limits, batch: request.batchNumber }) : null,
    };
  }
}

/** Container submissions: the vendor's own image, pinned by ID, as its own non-root user and entrypoint. */
export class VendorImageExecutor implements BatchExecutor {
  constructor(private readonly deps: { runner: OnnxRunnerService; sandbox: DockerSandboxAdapter; storage: StorageService; config: AppConfig; submission: SubmissionEntity }) {}

  private image(): NonNullable<ContainerManifest['image']> {
    const image = (this.deps.submission.manifest as ContainerManifest).image;
    if (!image) throw new Error(`container submission ${this.deps.submission.id} has no admitted image`);
    return image;
  }

  /**
   * Intake then load: the tarball is inspected as a stream before the engine sees it; an accepted image is loaded
   * once and pinned by its ID. The tarball is downloaded from the object store because workers may run elsewhere.
   */
  async check(request: CheckRequest): Promise<CheckVerdict> {
    const { sandbox, storage, config, submission } = this.deps;
    const tarball = join(request.workDir, 'image.tar');
    await storage.downloadToFile('submissions', submission.objectKey, tarball);
    const admission = await admitImageTarball(sandbox, tarball, { maxUnpackedBytes: config.limits.maxImageUnpackedBytes, maxLayerCompressionRatio: 100, expectedArchitecture: hostArchitecture() });
    if (!admission.ok) {
      return { ok: false, reason: `${admission.code}: ${admission.message}`, report: { intake: { code: admission.code, message: admission.message } }, rejectedImage: true };
    }
    const image: ContainerImageInfo = {
      imageId: admission.imageId,
      tarballSha256: admission.tarballSha256,
      runAs: admission.image.runAs,
      workingDir: admission.image.workingDir,
      architecture: admission.image.architecture,
      unpackedBytes: admission.image.unpackedBytes,
      repoTags: admission.image.repoTags,
    };
    return { ok: true, reason: null, report: { intake: { ...image, entrypoint: admission.image.entrypoint, cmd: admission.image.cmd, layers: admission.image.layers.length, loadMs: admission.loadMs, alreadyLoaded: admission.alreadyLoaded } }, manifest: { ...submission.manifest, image } };
  }

  /** A worker on another host may not hold the image yet: the stored tarball goes through intake and load again. */
  async prepare(workDir: string): Promise<void> {
    const image = this.image();
    const { sandbox, storage, config, submission } = this.deps;
    if (await sandbox.isImageLoaded(image.imageId)) return;
    const tarball = join(workDir, 'image.tar');
    await storage.downloadToFile('submissions', submission.objectKey, tarball);
    const admission = await admitImageTarball(sandbox, tarball, { maxUnpackedBytes: config.limits.maxImageUnpackedBytes, maxLayerCompressionRatio: 100, expectedArchitecture: hostArchitecture() });
    await fs.rm(tarball, { force: true });
    if (!admission.ok || admission.imageId !== image.imageId) throw new Error(`stored image of submission ${submission.id} no longer loads as ${image.imageId}`);
  }

  async runBatch(request: BatchRequest): Promise<BatchOutcome> {
    const image = this.image();
    // The runtime (gVisor where the engine has it) is chosen once, by the same rule as for the runner.
    const { runtime } = await this.deps.runner.resolveRuntime();
    const o = await runVendorBatch(this.deps.sandbox, {
      image: { imageId: image.imageId, runAs: image.runAs, workingDir: image.workingDir },
      workDir: request.workDir,
      batch: request.batch,
      ...(request.caseFiles ? { caseFiles: request.caseFiles } : {}),
      limits: request.limits,
      runtime,
      ...(request.gpus ? { gpus: request.gpus } : {}),
      labels: { [LABEL_RUN]: request.runId },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const fault = o.failure ? sandboxFault(o.failure, { result: o.result, limits: request.limits, batch: request.batchNumber, predictionsFile: o.predictionsFile }) : null;
    return { result: o.result, output: o.predictions, readOutput: outputReader(o.outputDir), imageId: image.imageId, runtime, fault };
  }
}

/** The one place a submission's kind is looked at: its executor, chosen once per run or check. */
export function executorFor(submission: SubmissionEntity, deps: { runner: OnnxRunnerService; sandbox: DockerSandboxAdapter; storage: StorageService; config: AppConfig }): BatchExecutor {
  return submission.kind === 'onnx' ? new OnnxRunnerExecutor({ ...deps, submission }) : new VendorImageExecutor({ ...deps, submission });
}

/** The executors of this worker (injectable, so a unit test can hand the orchestrator a fake). */
@Injectable()
export class BatchExecutors {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runner: OnnxRunnerService,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly storage: StorageService,
  ) {}

  for(submission: SubmissionEntity): BatchExecutor {
    return executorFor(submission, { runner: this.runner, sandbox: this.sandbox, storage: this.storage, config: this.config });
  }
}
