import { join } from 'node:path';
import { type BenchmarkDefinition, determinismCasesOf } from '../benchmarks/benchmark-definition';
import { canonicalJson } from '../common/canonical-json';
import { sha256Hex } from '../common/hashing';
import { isWorkerDraining } from '../queue/worker-draining';
import type { SandboxLimits } from '../sandbox/sandbox.types';
import type { TaskDefinition } from '../tasks/task-definition';
import type { BatchExecutor } from './batch-executor';
import type { RunDeterminism, RunPredictionEntity } from './evaluation.entity';
import { type BatchWork, type RunCase, runBatches, type SandboxTimings } from './run-batches';

export const DETERMINISM_METHOD =
  'a sample of the cases, chosen by sha256 of the run id and case id, re-run in one extra sandbox batch through the same executor under the same limits; per case, the canonical JSON of the prediction record and the sha256 of each output file compared with the first run';

/**
 * The cases of a run's determinism sample: the `size` cases with the smallest sha256(runId, caseId), in the run's
 * case order. Depends only on the run id and the case ids, so an attempt after a crash re-runs the same cases.
 */
export function determinismSample(runId: string, cases: readonly RunCase[], size: number): RunCase[] {
  const rank = new Map(cases.map((c) => [c.caseId, sha256Hex(`${runId}\u0000${c.caseId}`)]));
  const chosen = new Set(
    [...rank.entries()]
      .sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, Math.max(0, size))
      .map(([id]) => id),
  );
  return cases.filter((c) => chosen.has(c.caseId));
}

/** What is compared of one case's output: the prediction record without its stored files, and each file's sha256. */
function digestOf(prediction: Record<string, unknown>): { record: string; files: Record<string, string> } {
  const { files, ...record } = prediction;
  const hashes = Object.fromEntries(Object.entries((files ?? {}) as Record<string, { sha256: string }>).map(([name, f]) => [name, f.sha256]));
  return { record: canonicalJson(record), files: hashes };
}

/** Why case `caseId`'s second output differs from its first; null when identical. */
function differenceOf(first: Record<string, unknown> | undefined, second: Record<string, unknown> | undefined): string | null {
  if (!first || !second) return first ? 'no second prediction' : 'no first prediction';
  const a = digestOf(first);
  const b = digestOf(second);
  const parts: string[] = [];
  if (a.record !== b.record) parts.push('prediction record');
  for (const name of [...new Set([...Object.keys(a.files), ...Object.keys(b.files)])].sort()) {
    if (a.files[name] !== b.files[name]) parts.push(`file ${name}`);
  }
  return parts.length > 0 ? parts.join(', ') : null;
}

/**
 * The determinism check of a run whose batches all succeeded (issue 10, execution): a seeded sample of
 * min(limits.determinismCases, batch size, cases) cases runs again in one extra batch, with its own work directory,
 * and each second output is compared with the first. Output files of the second run are hashed, never stored.
 * Nothing here fails the run: a mismatch is reported, and a re-run batch that fails (the vendor's fault or Assay's)
 * is recorded as `checked: false` with the reason.
 */
export async function checkDeterminism(
  input: BatchWork & {
    /** The first run's predictions (files as stored: { key, sha256, bytes }); the re-run uses `<workDir>/determinism`. */
    first: readonly RunPredictionEntity[];
  },
): Promise<{ determinism: RunDeterminism; timings: SandboxTimings | null; ms: number }> {
  const t0 = Date.now();
  const def = input.definition;
  const wanted = determinismCasesOf(def);
  const size = Math.min(wanted, def.limits.resources.batchSize, input.cases.length);
  const result = (determinism: RunDeterminism, timings: SandboxTimings | null = null) => ({ determinism, timings, ms: Date.now() - t0 });
  if (wanted === 0) return result({ checked: false, cases: 0, identical: 0, method: DETERMINISM_METHOD, mismatches: [], summary: 'not checked: turned off by the benchmark (limits.determinismCases: 0)' });
  if (size === 0) return result({ checked: false, cases: 0, identical: 0, method: DETERMINISM_METHOD, mismatches: [], summary: 'not checked: the run has no cases' });
  const sample = determinismSample(input.runId, input.cases, size);
  const method = `${DETERMINISM_METHOD} (${sample.length} of ${input.cases.length} cases)`;
  const notChecked = (summary: string, detail: string, timings: SandboxTimings | null = null) =>
    result({ checked: false, cases: sample.length, identical: 0, method, mismatches: [], summary, detail: detail.slice(0, 1000) }, timings);
  let second;
  try {
    second = await runBatches({
      executor: input.executor,
      task: input.task,
      // One batch, whatever the benchmark's batch size (the sample is never larger than it).
      definition: { ...def, limits: { ...def.limits, resources: { ...def.limits.resources, batchSize: sample.length } } },
      runId: input.runId,
      workDir: join(input.workDir, 'determinism'),
      cases: sample,
      limits: input.limits,
      ...(input.gpus ? { gpus: input.gpus } : {}),
      ...(input.fetchCaseFiles ? { fetchCaseFiles: input.fetchCaseFiles } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
      storeFile: async (_caseId, _name, bytes) => ({ key: '(re-run, not stored)', sha256: sha256Hex(bytes), bytes: bytes.length }),
    });
  } catch (error) {
    // A worker shutting down stopped the re-run: the attempt is handed back whole, and its next start checks again.
    // So did an abandoned run (its signal): nothing of it is reported.
    if (isWorkerDraining(error) || input.signal?.aborted) throw error;
    const summary = "not checked: Assay could not re-run the sample (not the vendor's fault)";
    return notChecked(summary, `${summary}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (second.fault) return notChecked(`not checked: the re-run batch failed (${second.fault.reason})`, `the re-run batch failed: ${second.fault.reason}: ${second.fault.detail}`, second.timings);
  const firstOf = new Map(input.first.map((p) => [p.caseId, p.prediction]));
  const secondOf = new Map(second.predictions.map((p) => [p.caseId, p.prediction]));
  const differences = sample.map((c) => ({ caseId: c.caseId, difference: differenceOf(firstOf.get(c.caseId), secondOf.get(c.caseId)) })).filter((d) => d.difference !== null);
  const identical = sample.length - differences.length;
  const summary = differences.length === 0 ? `all ${sample.length} re-run cases gave identical outputs` : `${differences.length} of ${sample.length} re-run case(s) gave different outputs`;
  const detail = differences.length === 0 ? summary : `${summary}; first: case ${differences[0]?.caseId} (${differences[0]?.difference})`;
  return result({ checked: true, cases: sample.length, identical, method, mismatches: differences.map((d) => d.caseId), summary, detail }, second.timings);
}

/**
 * A run's determinism check as the evidence record's `execution.determinism` (src/reports/evidence.ts): with
 * `perCase` (staff, and readers the per-case annex is for) the particulars; otherwise the summary, which names no
 * case. A run without a check (public phase, older run) reads as not checked.
 */
export function determinismForEvidence(d: RunDeterminism | null, opts: { perCase: boolean }): { checked: boolean; cases: number; identical: number; method: string; detail?: string } {
  if (!d) return { checked: false, cases: 0, identical: 0, method: DETERMINISM_METHOD, detail: 'not checked: no determinism check was made for this run (public phase, or a run from before the check existed)' };
  return { checked: d.checked, cases: d.cases, identical: d.identical, method: d.method, detail: opts.perCase ? (d.detail ?? d.summary) : d.summary };
}
