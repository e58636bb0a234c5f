import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { perfDatabase } from './perf-database';
import { buildReferenceModels } from '../scripts/reference-models/build';
import { parseCohortCsv } from '../scripts/reference-models/wdbc-csv';
import { eventually, REPO_ROOT as ROOT, startTestStack } from '../test/support/test-stack';

const exec = promisify(execFile);
const ITERATIONS = Number(process.argv[2] ?? 5);

interface RunView {
  id: string;
  phase: string;
  status: string;
  timings: Record<string, number>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * One full WDBC evaluation (upload → in-sandbox check → sample pre-flight → held-out run → scoring → leaderboard),
 * timed end to end and by part, side by side with the reference: a bare `docker run` of the same runner image on
 * the same 549 held-out cases (the irreducible cost of one sandboxed inference), under runsc and runc.
 */
async function main(): Promise<void> {
  const database = await perfDatabase(`assay_perf_${process.pid}`);
  const stack = await startTestStack({ worker: true, env: { ASSAY_WORKER_CONCURRENCY: '2' }, database });
  try {
    const work = mkdtempSync(join(tmpdir(), 'assay-perf-'));
    const first = await stack.vendor('perf-0');
    writeFileSync(join(work, 'sample.csv'), await first.client.get<string>('/api/benchmarks/wdbc-malignancy/sample-data'));
    const models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
    const evaluator = await stack.user('evaluator');

    const totals: number[] = [];
    const parts: Record<string, number[]> = {};
    for (let i = 0; i <= ITERATIONS; i++) {
      const vendor = i === 0 ? first : await stack.vendor(`perf-${i}`);
      const t0 = Date.now();
      const submission = await vendor.client.uploadMultipart<{ id: string }>('/api/submissions', {
        fields: { benchmark: 'wdbc-malignancy', manifest: JSON.stringify(models.logreg.manifest) },
        fileField: 'model',
        filePath: models.logreg.modelPath,
      });
      const tUpload = Date.now();
      const done = await eventually(
        () => vendor.client.get<{ runs: { id: string; phase: string; status: string }[] }>(`/api/submissions/${submission.id}`),
        (s) => s.runs.some((r) => r.phase === 'test' && r.status === 'succeeded'),
        120_000,
      );
      await eventually(
        () => vendor.client.get<{ rows: { submissionId: string }[] }>('/api/benchmarks/wdbc-malignancy/leaderboard?phase=test'),
        (b) => b.rows.some((r) => r.submissionId === submission.id),
        30_000,
      );
      const total = Date.now() - t0;
      if (i === 0) continue; // warm-up
      totals.push(total);
      const add = (k: string, v: number | undefined): void => void (parts[k] ??= []).push(v ?? 0);
      add('upload + static check + in-sandbox model check (HTTP round trip)', tUpload - t0);
      for (const r of done.runs) {
        const run = await evaluator.get<RunView>(`/api/runs/${r.id}`);
        const t = run.timings;
        add(`${r.phase}: queue wait`, t.queueWaitMs);
        add(`${r.phase}: prepare (model + inputs from object store)`, t.prepareMs);
        add(`${r.phase}: sandbox create`, t.sandboxCreateMs);
        add(`${r.phase}: sandbox start`, t.sandboxStartMs);
        add(`${r.phase}: sandbox run (node + ORT load + inference)`, t.sandboxWaitMs);
        add(`${r.phase}: sandbox remove`, t.sandboxRemoveMs);
        add(`${r.phase}: scoring (metrics, 2000-replicate bootstrap CIs, calibration)`, t.scoringMs);
        add(`${r.phase}: run total (queued → succeeded)`, t.totalMs);
      }
    }

    // Reference: the same runner, same model, same 549 cases, one bare `docker run` each.
    const ref = join(work, 'ref');
    mkdirSync(join(ref, 'input'), { recursive: true });
    mkdirSync(join(ref, 'model'), { recursive: true });
    const sampleIds = new Set(readFileSync(join(work, 'sample.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]));
    const cases = parseCohortCsv(readFileSync(join(ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8'))
      .filter((c) => !sampleIds.has(c.caseId))
      .map((c) => ({ caseId: c.caseId, inputs: { features: c.features } }));
    if (cases.length !== 549) throw new Error(`expected the 549 held-out cases, got ${cases.length}`);
    const iface = { inputs: [{ name: 'features', kind: 'vector', length: 30, dtype: 'float32' }], outputs: [{ name: 'probability', kind: 'probability' }] };
    writeFileSync(join(ref, 'input/manifest.json'), JSON.stringify({ benchmark: 'wdbc-malignancy', task: 'binary-classification', interface: iface, cases }));
    copyFileSync(models.logreg.modelPath, join(ref, 'model/model.onnx'));
    writeFileSync(join(ref, 'model/manifest.json'), JSON.stringify(models.logreg.manifest));
    for (const d of [ref, join(ref, 'input'), join(ref, 'model')]) chmodSync(d, 0o755);
    const bare: Record<string, number[]> = { runsc: [], runc: [] };
    for (const runtime of ['runsc', 'runc'] as const) {
      for (let i = 0; i <= ITERATIONS; i++) {
        const t0 = Date.now();
        await exec('docker', ['run', '--rm', `--runtime=${runtime}`, '--network=none', '--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges', '--user=65534:65534', '--memory=1g', '--pids-limit=256', '--tmpfs=/tmp:size=64m', '--tmpfs=/output:size=16m,uid=65534', '-v', `${join(ref, 'input')}:/input:ro`, '-v', `${join(ref, 'model')}:/model:ro`, stack.config.sandbox.runnerImage, 'node', '/opt/runner/runner.js', 'predict']);
        if (i > 0) bare[runtime]?.push(Date.now() - t0);
      }
    }

    const fmt = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
    const lines = [
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${ITERATIONS} measured iterations after 1 warm-up; medians.`,
      '',
      '| what | median |',
      '|---|---|',
      `| **full evaluation, upload → on the leaderboard** | **${fmt(median(totals))}** (min ${fmt(Math.min(...totals))}, max ${fmt(Math.max(...totals))}) |`,
      ...Object.entries(parts).map(([k, v]) => `| ${k} | ${fmt(median(v))} |`),
      `| reference: bare \`docker run --runtime=runsc\` of the runner on 549 cases | ${fmt(median(bare.runsc ?? []))} |`,
      `| reference: bare \`docker run --runtime=runc\` of the runner on 549 cases | ${fmt(median(bare.runc ?? []))} |`,
      '',
      `Ratio: Assay's held-out run (queued → succeeded) / bare runsc \`docker run\` = ${(median(parts['test: run total (queued → succeeded)'] ?? [0]) / median(bare.runsc ?? [1])).toFixed(2)}; ` +
        `full evaluation (3 sandboxed containers: check, sample, test) / 3 × bare runsc run = ${(median(totals) / (3 * median(bare.runsc ?? [1]))).toFixed(2)}.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stack.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
