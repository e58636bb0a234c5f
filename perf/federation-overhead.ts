import 'reflect-metadata';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { perfDatabase } from './perf-database';
import { buildReferenceModels } from '../scripts/reference-models/build';
import type { NodePolicy } from '../src/federation/node-policy';
import { federatedWdbcDefinition, startHospitalNodes, startNodeAgent, stopHospitalNodes, WDBC_ROWS } from '../test/support/hospital-nodes';
import { eventually, startTestStack } from '../test/support/test-stack';

const ITERATIONS = Number(process.argv[2] ?? 5);
const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-federated'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'score-distributions' };

interface RunView {
  id: string;
  status: string;
  durationMs: number | null;
  timings: Record<string, number>;
  details: { federation?: { perNode: Record<string, { timings: Record<string, number> }> } } | null;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * The overhead of federation (issue 11, "Speed"): one WDBC held-out run at the facility and the same model's
 * held-out run over two hospital nodes (each with its own object store and sandbox, in this process), side by side,
 * alternating. Time outside the sandbox = the run's wall time (started → succeeded) minus the time its containers
 * ran (batches and the determinism re-run; for the federated run the slower node's, the nodes running in parallel).
 * Federation's overhead = the federated run's time outside the sandbox minus the facility run's.
 */
async function main(): Promise<void> {
  const database = await perfDatabase(`assay_perf_fed_${process.pid}`);
  const stack = await startTestStack({ worker: true, database });
  const nodes = await startHospitalNodes(
    stack,
    [
      { name: 'hospital-a', prefix: 'HOSPA', rows: WDBC_ROWS.slice(0, 285) },
      { name: 'hospital-b', prefix: 'HOSPB', rows: WDBC_ROWS.slice(285) },
    ],
    POLICY,
  );
  try {
    const evaluator = await stack.user('evaluator');
    await evaluator.post('/api/benchmarks', federatedWdbcDefinition('wdbc-federated', nodes));
    for (const n of nodes) startNodeAgent(stack, n, POLICY);
    const work = mkdtempSync(join(tmpdir(), 'assay-perf-fed-'));
    const first = await stack.vendor('perf-fed-0');
    writeFileSync(join(work, 'sample.csv'), await first.client.get<string>('/api/benchmarks/wdbc-malignancy/sample-data'));
    const models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });

    const rows: { benchmark: string; wall: number; inside: number; outside: number; parts?: Record<string, number> }[] = [];
    for (let i = 0; i <= ITERATIONS; i++) {
      for (const benchmark of ['wdbc-malignancy', 'wdbc-federated']) {
        const vendor = await stack.vendor(`perf-fed-${benchmark}-${i}`);
        const submission = await vendor.client.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark, manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
        const done = await eventually(
          () => vendor.client.get<{ runs: { id: string; phase: string; status: string }[] }>(`/api/submissions/${submission.id}`),
          (s) => s.runs.some((r) => r.phase === 'test' && ['succeeded', 'failed'].includes(r.status)),
          300_000,
        );
        const testRun = done.runs.find((r) => r.phase === 'test') as { id: string; status: string };
        if (testRun.status !== 'succeeded') throw new Error(`${benchmark}: the held-out run ${testRun.status}`);
        const run = await evaluator.get<RunView>(`/api/runs/${testRun.id}`);
        const inside =
          benchmark === 'wdbc-federated'
            ? // The node's intake check is a sandboxed container as well (the facility's ran before this run, at upload).
              Math.max(...Object.values(run.details?.federation?.perNode ?? {}).map((n) => (n.timings.checkMs ?? 0) + (n.timings.sandboxTotalMs ?? 0) + (n.timings.determinismMs ?? 0)))
            : (run.timings.sandboxTotalMs ?? 0) + (run.timings.determinismMs ?? 0);
        const wall = run.durationMs ?? 0;
        const slower = Object.values(run.details?.federation?.perNode ?? {}).sort((x, y) => (y.timings.totalMs ?? 0) - (x.timings.totalMs ?? 0))[0]?.timings;
        if (i > 0) rows.push({ benchmark, wall, inside, outside: wall - inside, ...(slower ? { parts: slower } : {}) });
      }
    }
    const nodeParts = rows.filter((r) => r.benchmark === 'wdbc-federated').map((r) => r.parts ?? {});
    const of = (b: string, k: 'wall' | 'inside' | 'outside'): number => median(rows.filter((r) => r.benchmark === b).map((r) => r[k]));
    const overheads = rows.filter((r) => r.benchmark === 'wdbc-federated').map((r, k) => r.outside - (rows.filter((x) => x.benchmark === 'wdbc-malignancy')[k]?.outside ?? 0));
    const ms = (x: number): string => `${Math.round(x)} ms`;
    const lines = [
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${ITERATIONS} measured pairs after 1 warm-up; medians.`,
      '',
      '| held-out run | wall (started → succeeded) | in the sandbox | outside the sandbox |',
      '|---|---|---|---|',
      `| facility (549 cases, one worker) | ${ms(of('wdbc-malignancy', 'wall'))} | ${ms(of('wdbc-malignancy', 'inside'))} | ${ms(of('wdbc-malignancy', 'outside'))} |`,
      `| federated (2 nodes, 265 + 264 cases, in parallel) | ${ms(of('wdbc-federated', 'wall'))} | ${ms(of('wdbc-federated', 'inside'))} (slower node) | ${ms(of('wdbc-federated', 'outside'))} |`,
      '',
      `Federation's overhead outside the sandbox (federated − facility, per pair): median ${ms(median(overheads))}, min ${ms(Math.min(...overheads))}, max ${ms(Math.max(...overheads))} (target < 1000 ms).`,
      `The slower node's own steps (medians): ${['fetchArtifactMs', 'checkMs', 'sandboxTotalMs', 'determinismMs', 'scoringMs', 'totalMs'].map((k) => `${k} ${ms(median(nodeParts.map((p) => p[k] ?? 0)))}`).join(', ')}.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stopHospitalNodes(nodes);
    await stack.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
