import 'reflect-metadata';
import { cpus, loadavg } from 'node:os';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { perfDatabase } from './perf-database';
import { seedScoredBoard } from './seed-scored';
import { ReportPipeline } from '../src/reports/report-pipeline';
import { REPORT_RENDERER, REPORT_SIGNER } from '../src/reports/report-ports';
import { WorkerModule } from '../src/worker.module';
import { startTestStack } from '../test/support/test-stack';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const REPEATS = flag('repeats', 5);
const BOARD = flag('board', 20);
const BENCHMARK = 'wdbc-malignancy';
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Wraps an object's methods so each call's time is added to `into[label]` (the ports the pipeline calls). */
function timeMethods(target: Record<string, unknown> | null, methods: Record<string, string>, into: Map<string, number>): void {
  if (!target) return;
  for (const [method, label] of Object.entries(methods)) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    target[method] = async (...a: unknown[]): Promise<unknown> => {
      const t0 = performance.now();
      try {
        return await (original as (...x: unknown[]) => unknown).apply(target, a);
      } finally {
        into.set(label, (into.get(label) ?? 0) + performance.now() - t0);
      }
    };
  }
}

function providerOf<T>(contexts: INestApplicationContext[], token: unknown): T | null {
  for (const c of contexts) {
    try {
      return c.get(token as never, { strict: false }) as T;
    } catch {
      // not in this context
    }
  }
  return null;
}

/**
 * Time to generate one full validation report (evidence JSON + signed HTML + PDF) for a held-out run of the
 * 549-case WDBC test split, off the request path (the worker's context), repeated. Target (issue 10): under 5 s.
 * See perf/RESULTS.md.
 */
async function main(): Promise<void> {
  const database = await perfDatabase(`assay_perf_report_${process.pid}`);
  const stack = await startTestStack({ worker: false, database });
  let worker: INestApplicationContext | null = null;
  try {
    log(`seeding a ${BENCHMARK} board of ${BOARD} scored submissions (the report's run is the first) …`);
    const seeded = await seedScoredBoard(stack.api, { benchmark: BENCHMARK, phase: 'test', count: BOARD, log });
    const runId = seeded.runIds[0] as string;
    log(`seeded in ${((seeded.timings.scoreMs + seeded.timings.insertMs + seeded.timings.materializeMs) / 1000).toFixed(1)} s; run ${runId}, ${seeded.cases} cases`);

    // Off the request path: the pipeline as the worker holds it.
    worker = await NestFactory.createApplicationContext(WorkerModule.forRoot(stack.config), { logger: ['error', 'warn'] });
    const contexts = [worker];
    const pipeline = worker.get(ReportPipeline, { strict: false });
    const parts = new Map<string, number>();
    timeMethods(providerOf(contexts, REPORT_SIGNER), { sign: 'sign (Ed25519 over canonical JSON)', sealHtml: 'seal HTML', sealPdf: 'seal PDF' }, parts);
    timeMethods(providerOf(contexts, REPORT_RENDERER), { html: 'render HTML (plots as SVG)', pdf: 'render PDF (chromium)' }, parts);

    const rows: string[] = [];
    for (const audience of ['full', 'vendor'] as const) {
      parts.clear();
      const t0 = performance.now();
      await pipeline.generate({ runId, audience });
      const cold = performance.now() - t0;
      const totals: number[] = [];
      const byPart = new Map<string, number[]>();
      for (let i = 0; i < REPEATS; i++) {
        parts.clear();
        const t = performance.now();
        const result = (await pipeline.generate({ runId, audience })) as { timings?: Record<string, number> } | null;
        const total = performance.now() - t;
        totals.push(total);
        const ported = [...parts.values()].reduce((a, b) => a + b, 0);
        for (const [k, v] of parts) (byPart.get(k) ?? byPart.set(k, []).get(k))?.push(v);
        (byPart.get('evidence build + storage (the rest)') ?? byPart.set('evidence build + storage (the rest)', []).get('evidence build + storage (the rest)'))?.push(total - ported);
        // The pipeline's own timings, where it reports them.
        for (const [k, v] of Object.entries(result?.timings ?? {})) if (typeof v === 'number') (byPart.get(`pipeline: ${k}`) ?? byPart.set(`pipeline: ${k}`, []).get(`pipeline: ${k}`))?.push(v);
        log(`${audience} #${i + 1}: ${total.toFixed(0)} ms`);
      }
      rows.push(`| ${audience} | **total (JSON + HTML + PDF)** | **${median(totals).toFixed(0)}** | ${Math.max(...totals).toFixed(0)} |`);
      for (const [k, v] of byPart) rows.push(`| ${audience} | ${k} | ${median(v).toFixed(0)} | ${Math.max(...v).toFixed(0)} |`);
      rows.push(`| ${audience} | first generation in this process (browser start included) | ${cold.toFixed(0)} | – |`);
    }
    process.stdout.write(
      [
        `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}. Run ${runId}: ${BENCHMARK} test split, ${seeded.cases} cases, ${BOARD} submissions on the board; ${REPEATS} repeats after one cold generation.`,
        '',
        '| audience | part | median ms | max ms |',
        '|---|---|---|---|',
        ...rows,
      ].join('\n') + '\n',
    );
  } finally {
    await worker?.close();
    await stack.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
