import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { OrganisationEntity, Role, UserEntity } from '../src/auth/auth.entity';
import { BenchmarksService } from '../src/benchmarks/benchmarks.service';
import { CohortsService } from '../src/cohorts/cohorts.service';
import { Database } from '../src/database/database.module';
import { LeaderboardsService } from '../src/leaderboards/leaderboards.service';
import { EvaluationResultEntity, RunEntity, RunStatus } from '../src/runs/evaluation.entity';
import { SubmissionEntity } from '../src/submissions/submissions.entity';
import { taskDefinition } from '../src/tasks/registry';

/** A small seeded PRNG (mulberry32) and a standard normal from it (Box–Muller). */
function rng(seed: number): { uniform: () => number; normal: () => number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

export interface SeededBoard {
  benchmarkVersionId: string;
  phase: string;
  split: string;
  cases: number;
  /** The seeded runs, in insertion order. */
  runIds: string[];
  submissionIds: string[];
  timings: { scoreMs: number; insertMs: number; materializeMs: number };
}

/**
 * Seeds `count` scored submissions of `count` organisations on one phase of a catalogue benchmark (binary
 * classification), in bulk, as the worker would have left them: a vendor user per organisation, an accepted ONNX
 * submission, a succeeded run pinned to the benchmark and cohort versions, and an evaluation result scored by the
 * task's real scorer (metrics with bootstrap CIs, subgroups, the per-case records the rank bootstrap reads) from
 * seeded synthetic probabilities of varying quality against the cohort's real truth. Then the leaderboard is
 * materialised once by LeaderboardsService.materialize (rank bootstrap and robustness as in production).
 * Nothing is sandboxed: the models are not real, their predictions are.
 */
export async function seedScoredBoard(app: INestApplication, options: { benchmark: string; phase: string; count: number; seed?: number; materialize?: boolean; log?: (line: string) => void }): Promise<SeededBoard> {
  const log = options.log ?? ((): void => undefined);
  const db = app.get(Database);
  const { version, phases } = await app.get(BenchmarksService).resolveCurrent(options.benchmark);
  const phase = phases.find((p) => p.name === options.phase);
  if (!phase) throw new Error(`${options.benchmark} has no phase ${options.phase}`);
  const def = version.definition;
  if (def.task !== 'binary-classification') throw new Error(`seedScoredBoard seeds binary-classification benchmarks only (${options.benchmark} is ${def.task})`);
  const cohorts = app.get(CohortsService);
  const cohortVersion = await cohorts.requireVersion(version.cohortVersionId);
  const task = taskDefinition(def.task);
  const truth = (await task.readTruth(cohorts.truthSource(cohortVersion, phase.split))) as { caseIds: string[]; labels: number[] };
  const metadata = await cohorts.caseMetadata(cohortVersion.id, phase.split as never);
  const random = rng(options.seed ?? 20261202);

  // Scoring (the real scorer; the expensive part: bootstrap CIs of every metric and subgroup).
  const t0 = Date.now();
  const scored: { report: Awaited<ReturnType<typeof task.score>>; sha: string }[] = [];
  for (let i = 0; i < options.count; i++) {
    // Separation from ~0.3 to ~3 standard deviations: AUROCs from ~0.6 to ~0.98, many near-ties in the middle.
    const separation = 0.3 + 2.7 * random.uniform();
    const predictions = new Map<string, Record<string, unknown>>();
    truth.caseIds.forEach((caseId, k) => {
      const z = separation * ((truth.labels[k] as number) - 0.5) + random.normal();
      predictions.set(caseId, { probability: Number((1 / (1 + Math.exp(-z))).toFixed(6)) });
    });
    const report = await task.score({ truth, predictions, definition: def, metadata });
    if ('missing' in report) throw new Error(`seed ${i}: ${report.missing.length} cases missing`);
    scored.push({ report, sha: createHash('sha256').update(`perf-model-${options.seed ?? 0}-${i}`).digest('hex') });
    if ((i + 1) % 200 === 0) log(`  scored ${i + 1}/${options.count} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const scoreMs = Date.now() - t0;

  // Bulk inserts, in chunks (one statement per chunk and table).
  const t1 = Date.now();
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const runIds: string[] = [];
  const submissionIds: string[] = [];
  const CHUNK = 100;
  await db.transaction(async (tx) => {
    for (let start = 0; start < options.count; start += CHUNK) {
      const idx = Array.from({ length: Math.min(CHUNK, options.count - start) }, (_, j) => start + j);
      const orgs = (await tx.insert(OrganisationEntity, idx.map((i) => ({ name: `perf-vendor-${tag}-${i}` })))).identifiers as { id: string }[];
      const users = (await tx.insert(UserEntity, idx.map((i, j) => ({ email: `perf-${tag}-${i}@vendor.test`, displayName: `Perf vendor ${i}`, role: Role.Vendor, organisationId: orgs[j]?.id as string })))).identifiers as { id: string }[];
      const subs = (
        await tx.insert(
          SubmissionEntity,
          idx.map((i, j) => ({
            benchmarkVersionId: version.id,
            organisationId: orgs[j]?.id as string,
            submittedBy: users[j]?.id as string,
            kind: 'onnx' as const,
            name: `model-${String(i).padStart(4, '0')}`,
            manifest: { name: `model-${i}`, version: '1.0.0', inputs: { features: 'features' }, outputs: { probability: 'probability' } },
            objectKey: `perf/${scored[i]?.sha}`,
            sha256: scored[i]?.sha as string,
            sizeBytes: '1024',
            status: 'accepted' as const,
            checkReport: null,
          })),
        )
      ).identifiers as { id: string }[];
      const now = new Date();
      const runs = (
        await tx.insert(
          RunEntity,
          idx.map((i, j) => {
            const report = scored[i]?.report as { n: number; metricCodeVersion: string };
            return {
              submissionId: subs[j]?.id as string,
              benchmarkVersionId: version.id,
              phase: phase.name,
              split: phase.split,
              status: RunStatus.Succeeded,
              casesTotal: report.n,
              casesDone: report.n,
              modelSha256: scored[i]?.sha as string,
              cohortContentHash: cohortVersion.contentHash,
              benchmarkContentHash: version.contentHash,
              metricCodeVersion: report.metricCodeVersion,
              sandboxRuntime: 'runsc',
              timings: {},
              startedAt: now,
              finishedAt: now,
            };
          }),
        )
      ).identifiers as { id: string }[];
      await tx.insert(
        EvaluationResultEntity,
        idx.map((i, j) => {
          const report = scored[i]?.report as Exclude<Awaited<ReturnType<typeof task.score>>, { missing: string[] }>;
          return { runId: runs[j]?.id as string, n: report.n, metrics: report.metrics, details: { ...report.details, metricCodeVersion: report.metricCodeVersion, subgroups: report.subgroups }, perCase: report.perCase };
        }) as never,
      );
      runIds.push(...runs.map((r) => r.id));
      submissionIds.push(...subs.map((s) => s.id));
    }
  });
  const insertMs = Date.now() - t1;

  const t2 = Date.now();
  if (options.materialize ?? true) await app.get(LeaderboardsService).materialize(version.id, phase.name);
  const materializeMs = Date.now() - t2;
  return { benchmarkVersionId: version.id, phase: phase.name, split: phase.split, cases: truth.caseIds.length, runIds, submissionIds, timings: { scoreMs, insertMs, materializeMs } };
}
