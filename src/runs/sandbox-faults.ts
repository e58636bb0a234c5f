import type { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import type { SandboxFailureCode } from '../sandbox/container-run';
import type { OutputFileKind } from '../sandbox/output-dir';
import type { SandboxLimits, SandboxResult } from '../sandbox/sandbox.types';
import { FailureReason } from './evaluation.entity';

/** Cap on the logs kept per batch container and per run. */
export const RUN_LOG_BYTES = 64 * 1024;

/** A vendor-caused failure: recorded on the run, never retried, never thrown to the queue. */
export class VendorFault extends Error {
  constructor(
    readonly reason: FailureReason,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

export function sandboxLimitsFor(version: Pick<BenchmarkVersionEntity, 'definition'>): SandboxLimits {
  const r = version.definition.limits.resources;
  return {
    memoryBytes: r.memoryMiB * 1024 * 1024,
    nanoCpus: Math.round(r.cpus * 1e9),
    // gVisor's own threads count against the pids cgroup (ENVIRONMENT.md); 256 leaves room for them and ORT's pool.
    pidsLimit: 256,
    timeoutMs: r.timeoutSeconds * 1000,
    outputBytes: r.outputBytes,
    logBytes: RUN_LOG_BYTES,
    tmpBytes: 64 * 1024 * 1024,
  };
}

const REASON: Record<SandboxFailureCode, FailureReason> = {
  timeout: FailureReason.Timeout,
  out_of_memory: FailureReason.OutOfMemory,
  exit_nonzero: FailureReason.ExitNonzero,
  invalid_output: FailureReason.InvalidOutput,
  missing_predictions: FailureReason.MissingPredictions,
};

/**
 * The one place a sandbox failure code (src/sandbox/container-run.ts classifies, for ONNX runs and vendor images
 * alike) becomes what the vendor reads: the run's reason and a detail that says which limit, which exit, which file.
 */
export function sandboxFault(code: SandboxFailureCode, input: { result: SandboxResult; limits: SandboxLimits; batch?: number; predictionsFile?: OutputFileKind }): VendorFault {
  const { result, limits } = input;
  const where = input.batch === undefined ? '' : `batch ${input.batch}: `;
  const lastLine = result.logs.trim().split('\n').pop()?.slice(0, 300) ?? '';
  const detail = ((): string => {
    switch (code) {
      case 'timeout':
        return `exceeded the time limit of ${Math.round(limits.timeoutMs / 1000)} s`;
      case 'out_of_memory':
        return `exceeded the memory limit of ${Math.round(limits.memoryBytes / 1048576)} MiB`;
      case 'exit_nonzero':
        return `${where}exit code ${result.exitCode}${lastLine ? `; last log line: ${lastLine}` : ''}`;
      case 'missing_predictions':
        return `${where}the container exited 0 without writing /output/predictions.jsonl`;
      case 'invalid_output':
        if (result.outputRefused) return `${where}${result.outputRefused}`;
        if (result.outputExceeded) return `${where}wrote more than the output cap of ${limits.outputBytes} bytes`;
        return input.predictionsFile === 'not_a_file'
          ? `${where}/output/predictions.jsonl is not a regular file (links are never followed)`
          : `${where}/output/predictions.jsonl is missing, not a regular file, or over the output cap`;
    }
  })();
  return new VendorFault(REASON[code], detail);
}
