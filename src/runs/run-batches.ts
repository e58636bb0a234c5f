import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { cohortFileOf, type VersionRecord } from '../cohorts/cohort-version';
import type { StorageService } from '../storage/storage.service';
import type { SandboxLimits } from '../sandbox/sandbox.types';
import type { TaskDefinition } from '../tasks/task-definition';
import type { BatchExecutor, BatchOutcome } from './batch-executor';
import { FailureReason, type RunPredictionEntity, type RunTimings } from './evaluation.entity';
import { VendorFault } from './sandbox-faults';

export interface RunCase {
  caseId: string;
  inputs: Record<string, unknown>;
}

export type SandboxTimings = Required<
  Pick<RunTimings, 'sandboxCreateMs' | 'sandboxStartMs' | 'sandboxWaitMs' | 'sandboxRemoveMs' | 'sandboxTotalMs' | 'fetchInputsMs' | 'batchIoMs' | 'parseOutputMs' | 'storeOutputMs'>
>;

export interface BatchesOutcome {
  predictions: RunPredictionEntity[];
  logs: Buffer[];
  timings: SandboxTimings;
  imageId: string;
  runtime: string;
  /** The vendor's fault that ended the run (logs and timings up to it are kept); null when every case has a prediction. */
  fault: VendorFault | null;
}

/**
 * Image tasks: the files a batch's cases name as inputs (`cases/<caseId>/<file>`), downloaded from the cohort
 * version's own file list (keys are never built from input) into the batch's directory, one batch at a time. Shared
 * by the facility's worker and a federated node (each with its own object store).
 */
export async function downloadCaseFiles(storage: StorageService, cohortVersion: VersionRecord, split: string, cases: readonly RunCase[], dir: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const c of cases) {
    for (const value of Object.values(c.inputs)) {
      if (typeof value !== 'string') continue;
      const prefix = `cases/${c.caseId}/`;
      const name = value.slice(prefix.length);
      if (!value.startsWith(prefix) || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`cohort ${cohortVersion.id}: case ${c.caseId} names an input file outside its case folder: ${value}`);
      const file = cohortFileOf(cohortVersion, 'inputs', `/${split}/${value}`);
      const host = join(dir, c.caseId, name);
      await fs.mkdir(join(dir, c.caseId), { recursive: true, mode: 0o700 });
      await storage.downloadToFile('inputs', file.key, host);
      (out[c.caseId] ??= {})[name] = host;
    }
  }
  return out;
}

/** What running cases in the sandbox needs: shared by a run's batches and its determinism re-run. */
export interface BatchWork {
  executor: BatchExecutor;
  task: TaskDefinition;
  definition: BenchmarkDefinition;
  runId: string;
  /** The attempt's work dir (batches under it). */
  workDir: string;
  cases: readonly RunCase[];
  limits: SandboxLimits;
  gpus?: { deviceIds: string[] };
  /** Image tasks: puts a batch's case files (inputs that name files) under `dir`; caseId -> { relative path -> host file }. */
  fetchCaseFiles?: (cases: readonly RunCase[], dir: string) => Promise<Record<string, Record<string, string>>>;
  /** Abandons the run (a node's job cancelled at the hub): no further batch starts, the running container is killed. */
  signal?: AbortSignal;
}

/**
 * Step 2 of a run: the cases batch by batch through the executor, each batch's output parsed by the task and checked
 * against the batch's cases. Throws for Assay's faults (the caller hands the run back); returns the vendor's fault.
 */
export async function runBatches(
  input: BatchWork & {
    /** After each batch, with the number of cases done. */
    onProgress?: (casesDone: number) => Promise<void>;
    /** Keeps a per-case output file the task asked for (e.g. a mask) as a run artifact; returns what the prediction records. */
    storeFile?: (caseId: string, name: string, bytes: Buffer) => Promise<{ key: string; sha256: string; bytes: number }>;
  },
): Promise<BatchesOutcome> {
  const { executor, task, definition: def, cases } = input;
  const out: BatchesOutcome = {
    predictions: [],
    logs: [],
    timings: { sandboxCreateMs: 0, sandboxStartMs: 0, sandboxWaitMs: 0, sandboxRemoveMs: 0, sandboxTotalMs: 0, fetchInputsMs: 0, batchIoMs: 0, parseOutputMs: 0, storeOutputMs: 0 },
    imageId: '',
    runtime: '',
    fault: null,
  };
  const size = def.limits.resources.batchSize;
  const batchDirOf = (batch: number): string => join(input.workDir, `batch-${batch}`);
  // Image tasks: the next batch's case files are downloaded while this batch's container runs (its own folder), so
  // only the first batch waits for its files. A prefetch still pending when the loop ends is settled before returning.
  const fetchBatch = (batch: number): Promise<Record<string, Record<string, string>>> | undefined => {
    const offset = (batch - 1) * size;
    if (!input.fetchCaseFiles || offset >= cases.length) return undefined;
    const pending = input.fetchCaseFiles(cases.slice(offset, offset + size), join(batchDirOf(batch), 'fetched'));
    pending.catch(() => undefined); // awaited below (or settled in finally); never an unhandled rejection
    return pending;
  };
  // Parse a batch's output with the task, check it names this batch's cases, keep its files, record its predictions.
  const collectBatch = async (batch: number, batchCases: readonly RunCase[], outcome: BatchOutcome, offset: number): Promise<void> => {
    if (outcome.output === null) throw new Error(`batch ${batch}: no sandbox fault, yet no predictions were read`);
    const tParse = Date.now();
    const parsed = await task.parsePredictions({ text: outcome.output, caseIds: batchCases.map((c) => c.caseId), output: outcome.readOutput });
    out.timings.parseOutputMs += Date.now() - tParse;
    if (!parsed.ok) throw new VendorFault(FailureReason.InvalidOutput, `batch ${batch}, ${parsed.message}`);
    const expected = new Set(batchCases.map((c) => c.caseId));
    const unknown = parsed.value.filter((p) => !expected.has(p.caseId));
    if (unknown.length > 0) {
      throw new VendorFault(FailureReason.InvalidOutput, `batch ${batch}: ${unknown.length} prediction(s) for cases not in this batch (first: '${unknown[0]?.caseId}')`);
    }
    const tStore = Date.now();
    for (const p of parsed.value) {
      const prediction = { ...p.prediction };
      if (p.files && Object.keys(p.files).length > 0) {
        if (!input.storeFile) throw new Error(`task ${task.task} keeps output files but the run has nowhere to store them`);
        const stored: Record<string, { key: string; sha256: string; bytes: number }> = {};
        for (const [name, bytes] of Object.entries(p.files)) stored[name] = await input.storeFile(p.caseId, name, bytes);
        prediction['files'] = stored;
      }
      out.predictions.push({ runId: input.runId, caseId: p.caseId, prediction });
    }
    out.timings.storeOutputMs += Date.now() - tStore;
    await input.onProgress?.(Math.min(cases.length, offset + batchCases.length));
  };
  let collecting: Promise<void> | undefined;
  let prefetch = fetchBatch(1);
  try {
    for (let offset = 0, batch = 1; offset < cases.length; offset += size, batch++) {
      input.signal?.throwIfAborted();
      const batchCases = cases.slice(offset, offset + size);
      const batchDir = batchDirOf(batch);
      // Where a run's time goes outside the container is recorded too (perf/segmentation-evaluation.ts reads it);
      // for case files that is the time spent waiting for them.
      const tFetch = Date.now();
      const caseFiles = prefetch ? await prefetch : undefined;
      prefetch = fetchBatch(batch + 1);
      const tBatch = Date.now();
      out.timings.fetchInputsMs += tBatch - tFetch;
      const outcome = await executor.runBatch({
        workDir: batchDir,
        batch: { benchmark: def.slug, task: def.task, interface: def.interface, cases: [...batchCases] },
        ...(caseFiles ? { caseFiles } : {}),
        batchNumber: batch,
        limits: input.limits,
        ...(input.gpus ? { gpus: input.gpus } : {}),
        runId: input.runId,
        ...(input.signal ? { signal: input.signal } : {}),
      });
      out.imageId = outcome.imageId;
      out.runtime = outcome.runtime;
      const t = outcome.result.timings;
      out.timings.sandboxCreateMs += t.createMs;
      out.timings.sandboxStartMs += t.startMs;
      out.timings.sandboxWaitMs += t.waitMs;
      out.timings.sandboxRemoveMs += t.removeMs;
      out.timings.sandboxTotalMs += t.totalMs;
      out.timings.batchIoMs += Math.max(0, Date.now() - tBatch - t.totalMs);
      out.logs.push(outcome.result.logBytes);
      // The previous batch was parsed and stored while this one's container ran (its output folder is its own): its
      // vendor fault, if any, is the run's, before anything this batch did.
      if (collecting) await collecting;
      if (outcome.result.exitCode === null && !outcome.result.timedOut) throw new Error('the sandbox container produced no exit code');
      if (outcome.fault) throw outcome.fault;
      // classifySandboxOutcome reports a missing or unreadable predictions file; collectBatch checks Assay's invariant.
      collecting = collectBatch(batch, batchCases, outcome, offset);
      collecting.catch(() => undefined);
    }
    if (collecting) await collecting;
    const have = new Set(out.predictions.map((p) => p.caseId));
    const missing = cases.filter((c) => !have.has(c.caseId));
    if (missing.length > 0) {
      throw new VendorFault(FailureReason.MissingPredictions, `${missing.length} of ${cases.length} case(s) have no prediction (first: '${missing[0]?.caseId}'); a case without a prediction is a failure, never dropped`);
    }
  } catch (error) {
    if (!(error instanceof VendorFault)) throw error;
    out.fault = error;
  } finally {
    // The caller removes the work dir next: no download may still be writing into it, no batch still being read.
    if (prefetch) await prefetch.catch(() => undefined);
    if (collecting) await collecting.catch(() => undefined);
  }
  return out;
}
