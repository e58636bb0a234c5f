import { writeBatchInput } from './container-run';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { resolveRunnerImage } from '../containers/runner-image';
import { DockerSandboxAdapter } from './docker-sandbox.adapter';
import { withReleasedOutput } from './container-run';
import { readCapped, type ReleasedOutput } from './output-dir';
import { assertRuntimeAllowed } from './sandbox-profile';
import type { SandboxLimits, SandboxResult, SandboxRuntime } from './sandbox.types';

export interface BatchManifest {
  benchmark: string;
  task: string;
  interface: unknown;
  cases: { caseId: string; inputs: Record<string, unknown> }[];
}

export interface RunnerInvocation {
  mode: 'check' | 'predict';
  /** Private scratch directory for this invocation; removed afterwards. */
  workDir: string;
  /** Local copy of the vendor's model.onnx. */
  modelFile: string;
  modelManifest: unknown;
  batch: BatchManifest;
  /** Case files to copy in (image tasks): caseId -> { path relative to /input/cases/<caseId>/ -> host file }. */
  caseFiles?: Record<string, Record<string, string>>;
  limits: SandboxLimits;
  gpus?: { deviceIds: string[] };
  labels: Record<string, string>;
  /** Stops the container when the work is abandoned (SandboxRunSpec.signal). */
  signal?: AbortSignal;
}

export interface RunnerOutcome {
  result: SandboxResult;
  /** Text of /output/predictions.jsonl (predict) or /output/check.json (check); null when absent. */
  output: string | null;
  imageId: string;
  runtime: SandboxRuntime;
}

/**
 * Runs the facility's ONNX runner image under the sandbox contract: /input (batch manifest) and /model read-only,
 * /output capped. The same sandbox and checks serve vendors' own containers.
 */
@Injectable()
export class OnnxRunnerService {
  private readonly logger = new Logger('OnnxRunnerService');
  private runtime: SandboxRuntime | null = null;
  private imageId: string | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly sandbox: DockerSandboxAdapter,
  ) {}

  /**
   * Picks the runtime once: gVisor when the engine has it (or when configured). In production a weaker profile
   * (runc) is refused unless ASSAY_ALLOW_WEAK_SANDBOX is set, and then it is logged.
   */
  async resolveRuntime(): Promise<{ runtime: SandboxRuntime; imageId: string }> {
    if (this.runtime && this.imageId) return { runtime: this.runtime, imageId: this.imageId };
    const info = await this.sandbox.info();
    const wanted = this.config.sandbox.runtime;
    let runtime: SandboxRuntime;
    if (wanted === 'runsc' && !info.hasRunsc) throw new Error('ASSAY_SANDBOX_RUNTIME=runsc but the Docker engine has no runsc runtime (run scripts/setup-docker.sh)');
    if (wanted === 'auto') runtime = info.hasRunsc ? 'runsc' : 'runc';
    else runtime = wanted;
    if (runtime === 'runc') {
      // The same rule the adapter applies to every run, GPU runs included (sandbox-profile.ts).
      assertRuntimeAllowed(runtime, { mode: this.config.mode, allowWeakProfile: this.config.sandbox.allowWeakProfile }, 'to start');
      this.logger.warn('sandbox runs with runc, not gVisor: weaker isolation' + (this.config.sandbox.allowWeakProfile ? ' (ASSAY_ALLOW_WEAK_SANDBOX override)' : ''));
    }
    // Pinned once, by the ID build-images.sh recorded (or an ID in the config): never by what a tag says now.
    const image = await resolveRunnerImage(this.sandbox, this.config, this.logger);
    this.runtime = runtime;
    this.imageId = image.id;
    return { runtime, imageId: image.id };
  }

  async invoke(inv: RunnerInvocation): Promise<RunnerOutcome> {
    const { runtime, imageId } = await this.resolveRuntime();
    const input = join(inv.workDir, 'input');
    const model = join(inv.workDir, 'model');
    const output = join(inv.workDir, 'output');
    await fs.mkdir(input, { recursive: true, mode: 0o755 });
    await fs.mkdir(model, { recursive: true, mode: 0o755 });
    await fs.chmod(inv.workDir, 0o755);
    await writeBatchInput(input, inv.batch, inv.caseFiles);
    await fs.writeFile(join(model, 'manifest.json'), JSON.stringify(inv.modelManifest), { mode: 0o644 });
    await fs.copyFile(inv.modelFile, join(model, 'model.onnx'));
    await fs.chmod(join(model, 'model.onnx'), 0o644);
    let result: SandboxResult;
    let released: ReleasedOutput | null = null;
    let releaseError: unknown;
    try {
      result = await this.sandbox.run({
        // Pinned by image ID, so a re-tag between runs cannot change what runs.
        image: imageId,
        cmd: ['node', '/opt/runner/runner.js', inv.mode],
        env: inv.gpus ? { ASSAY_GPU: '1' } : {},
        mounts: [
          { hostPath: input, containerPath: '/input', readOnly: true },
          { hostPath: model, containerPath: '/model', readOnly: true },
        ],
        outputDir: output,
        limits: inv.limits,
        runtime,
        ...(inv.gpus ? { gpus: inv.gpus } : {}),
        labels: inv.labels,
        ...(inv.signal ? { signal: inv.signal } : {}),
      });
    } finally {
      // Always, also when the run threw (its error wins then); a failed release is Assay's fault, never swallowed.
      released = await this.sandbox.releaseOutputDir(output, inv.limits.outputBytes).catch((err: unknown) => {
        releaseError = err;
        return null;
      });
    }
    if (!released) throw releaseError;
    result = withReleasedOutput(result, released);
    const file = join(output, inv.mode === 'check' ? 'check.json' : 'predictions.jsonl');
    const text = await readCapped(file, inv.limits.outputBytes);
    return { result, output: text, imageId, runtime };
  }
}
