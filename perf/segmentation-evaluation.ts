import 'reflect-metadata';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { RunSummary } from '../src/cli/api-client';
import { perfDatabase } from './perf-database';
import { CohortsService } from '../src/cohorts/cohorts.service';
import { validateImagingDescriptor, type CohortSource } from '../src/cohorts/imaging-ingest';
import { writeCohort } from '../src/phantoms/cohort';
import { StorageService } from '../src/storage/storage.service';
import { eventually, REPO_ROOT as ROOT, startTestStack } from '../test/support/test-stack';
import { TEST_REDIS_URL } from '../test/support/test-env';

// A full segmentation evaluation on a SYNTHETIC phantom cohort (issue 9, "Speed and memory"): N cases of
// 256×256×128 are generated once (cached under .assay/perf-cohorts/), ingested as an imaging cohort, an evaluator
// creates a benchmark equivalent to benchmarks/lesion-segmentation on it, a vendor submits the example ONNX
// segmentation model, and the held-out run is timed from its recorded timings. The API runs in this process, the
// worker in a child process (node dist/src/worker.js), so the API's event-loop lag is measured as a deployment sees
// it. The reference is the bare inference: one `docker run` of the same runner image, same hardening, on the same
// held-out cases.

const exec = promisify(execFile);
const SIZE: [number, number, number] = [256, 256, 128];
const SEED = 20261124;
const SAMPLE_SIZE = 4;
const FIXTURE = join(ROOT, 'test', 'fixtures', 'onnx', 'lesion-seg');

interface Args {
  cases: number;
  reference: boolean;
  inProcessWorker: boolean;
  generateOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cases: 100, reference: true, inProcessWorker: false, generateOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cases') args.cases = Number(argv[++i]);
    else if (a === '--no-reference') args.reference = false;
    else if (a === '--in-process-worker') args.inProcessWorker = true;
    else if (a === '--generate-only') args.generateOnly = true;
    else throw new Error(`unknown argument ${a}; usage: segmentation-evaluation [--cases N] [--no-reference] [--in-process-worker] [--generate-only]`);
  }
  if (!Number.isInteger(args.cases) || args.cases <= SAMPLE_SIZE + 1) throw new Error(`--cases must be an integer above ${SAMPLE_SIZE + 1}`);
  return args;
}

/** The cohort folder, generated once per (seed, N, size): written under a temporary name, renamed when complete. */
async function ensureCohort(cases: number): Promise<string> {
  const root = join(ROOT, '.assay', 'perf-cohorts');
  const dir = join(root, `lesion-phantoms-s${SEED}-n${cases}-${SIZE.join('x')}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(root, { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const t0 = Date.now();
  await writeCohort({
    seed: SEED,
    cases,
    size: SIZE,
    outDir: staging,
    onCase: (done, total) => process.stderr.write(`\rgenerating SYNTHETIC phantoms: ${done}/${total} (${((Date.now() - t0) / 1000).toFixed(0)} s)`),
  });
  process.stderr.write('\n');
  writeFileSync(join(staging, '.complete'), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return dir;
}

// monitorEventLoopDelay records the time between its timer's ticks; the lag is what exceeds the timer's interval.
const RESOLUTION_MS = 10;
const lagMs = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
const lagOf = (h: IntervalHistogram): { p50: number; p99: number; max: number; samples: number } => ({ p50: lagMs(h.percentile(50)), p99: lagMs(h.percentile(99)), max: lagMs(h.max), samples: h.count });

/** Peak and current resident memory of a process, from /proc (kB → MiB). */
function memoryOf(pid: number): { hwmMiB: number; rssMiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { hwmMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

/** GET /api/runs/:id as an evaluator reads it: the run summary plus its timings and metrics. */
interface RunView extends Omit<RunSummary, 'progress' | 'durationMs'> {
  timings: Record<string, number>;
  metrics: Record<string, { value: number | null }>;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cohortDir = await ensureCohort(args.cases);
  if (args.generateOnly) return;

  const database = await perfDatabase(`assay_perf_seg_${process.pid}`);
  const work = mkdtempSync(join(tmpdir(), 'assay-perf-seg-'));
  const stack = await startTestStack({ worker: args.inProcessWorker, database });
  let worker: ChildProcess | null = null;
  let workerPeak = 0;
  let workerSampler: NodeJS.Timeout | undefined;
  try {
    if (!args.inProcessWorker) {
      // The worker as a deployment runs it: its own process on the same services (the embedded object store's port
      // is taken by the API's store, which the worker then uses).
      const c = stack.config;
      const log = createWriteStream(join(work, 'worker.log'));
      worker = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'worker.js')], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/root',
          ASSAY_MODE: 'test',
          DATABASE_URL: database.url,
          REDIS_URL: TEST_REDIS_URL,
          ASSAY_QUEUE_PREFIX: c.redis.queuePrefix,
          ASSAY_S3_EMBEDDED_PORT: String(c.storage.embeddedPort),
          ASSAY_DATA_DIR: c.dataDir,
          ASSAY_CATALOGUE_DIR: ROOT,
          ASSAY_GENERATED_DIR: join(ROOT, '.assay', 'generated'),
          ASSAY_WORKER_ID: `perf-seg-${randomBytes(4).toString('hex')}`,
          ASSAY_WORKER_GPUS: 'none',
          ASSAY_LOG_LEVEL: 'warn',
          ...(process.env.ASSAY_PERF_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.ASSAY_PERF_WORKER_NODE_OPTIONS } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      worker.stdout?.pipe(log);
      worker.stderr?.pipe(log);
      const pid = worker.pid as number;
      workerSampler = setInterval(() => {
        workerPeak = Math.max(workerPeak, memoryOf(pid)?.hwmMiB ?? 0);
      }, 1000);
    }

    // The perf cohort, ingested through the service (the catalogue only loads cohorts/<slug>/ folders).
    const slug = `perf-lesion-phantoms-n${args.cases}`;
    const shipped = parse(readFileSync(join(ROOT, 'cohorts', 'lesion-phantoms', 'cohort.yaml'), 'utf8')) as Record<string, unknown>;
    const { generator: _generator, ...rest } = shipped;
    const descriptor = validateImagingDescriptor({
      ...rest,
      slug,
      title: `Perf: ${args.cases} lesion phantoms 256x256x128 (SYNTHETIC)`,
      description: `${args.cases} SYNTHETIC CT-like volumes (256x256x128) from src/phantoms, seed ${SEED}, for perf/segmentation-evaluation.ts. Not patient data.`,
      attribution: `Synthetic data generated by Assay (src/phantoms), seed ${SEED}. No patient data.`,
      split: { seed: 20261123, sampleSize: SAMPLE_SIZE, stratifyBy: 'scanner' },
    });
    const source: CohortSource = { read: async (p) => readFileSync(join(cohortDir, p)), list: async (f) => readdirSync(join(cohortDir, f)) };
    const tIngest = Date.now();
    // The plan is kept for the folder (complete, so immutable) and the store is tried again once: after minutes of
    // planning, the first request to the in-process object store can meet a keep-alive socket its server just closed
    // ("socket hang up"; seen once at N = 100). Files written by a failed attempt are removed by the service.
    const ingest = () => stack.api.get(CohortsService).ingestImaging(null, descriptor, source, { immutableSourceKey: cohortDir });
    const ingested = await ingest().catch((error: unknown) => {
      if (!/socket hang up|ECONNRESET/.test(String(error))) throw error;
      process.stderr.write(`ingest: ${String(error)}; trying the store again\n`);
      return ingest();
    });
    const ingestMs = Date.now() - tIngest;
    process.stderr.write(`ingested ${slug} v${ingested.version.version} in ${(ingestMs / 1000).toFixed(1)} s\n`);

    const evaluator = await stack.user('evaluator');
    const definition = parse(readFileSync(join(ROOT, 'benchmarks', 'lesion-segmentation', 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    const benchmark = `perf-lesion-segmentation-n${args.cases}`;
    await evaluator.post('/api/benchmarks', { ...definition, slug: benchmark, title: `Perf: lesion segmentation on ${args.cases} phantoms (SYNTHETIC)`, cohort: { slug } });

    const vendor = (await stack.vendor('Perf Imaging Vendor')).client;
    const t0 = Date.now();
    const submission = await vendor.uploadMultipart<{ id: string }>('/api/submissions', {
      fields: { benchmark, manifest: readFileSync(join(FIXTURE, 'manifest.json'), 'utf8') },
      fileField: 'model',
      filePath: join(FIXTURE, 'model.onnx'),
    });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const withTest = await eventually(
      () => vendor.get<Sub>(`/api/submissions/${submission.id}`),
      (s) => s.runs.some((r) => r.phase === 'test') || s.runs.some((r) => r.status === 'failed'),
      30 * 60_000,
    );
    const testRunId = withTest.runs.find((r) => r.phase === 'test')?.id;
    if (!testRunId) throw new Error(`the sample run did not pass: ${JSON.stringify(withTest.runs)}`);

    // Event-loop lag of this (the API's) process: over the whole held-out run, and while the worker scores.
    const wholeRun = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    wholeRun.enable();
    let scoring: IntervalHistogram | null = null;
    let scoringSeenAt = 0;
    let run: RunView;
    for (;;) {
      run = await evaluator.get<RunView>(`/api/runs/${testRunId}`);
      if (run.status === 'scoring' && !scoring) {
        scoring = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
        scoring.enable();
        scoringSeenAt = Date.now();
      }
      if (['succeeded', 'failed', 'cancelled'].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    wholeRun.disable();
    scoring?.disable();
    const scoringObservedMs = scoringSeenAt ? Date.now() - scoringSeenAt : 0;
    if (run.status !== 'succeeded') throw new Error(`held-out run ${run.status}: ${run.failureReason}: ${run.failureDetail}`);
    const evaluationMs = Date.now() - t0;
    if (worker?.pid) workerPeak = Math.max(workerPeak, memoryOf(worker.pid)?.hwmMiB ?? 0);
    const apiPeak = memoryOf(process.pid)?.hwmMiB ?? 0;

    // Reference: the same runner image, one bare `docker run` on the same held-out cases (the canonical NIfTI files
    // the run received), same hardening flags and resource limits as the sandbox profile.
    const cases = await evaluator.get<{ caseId: string }[]>(`/api/runs/${testRunId}/cases`);
    let reference: { wallMs: number; inContainerMs: number | null; runtime: string } | null = null;
    if (args.reference) {
      const ref = join(work, 'ref');
      mkdirSync(join(ref, 'input', 'cases'), { recursive: true });
      mkdirSync(join(ref, 'model'), { recursive: true });
      const storage = stack.api.get(StorageService);
      const manifest = ingested.version.manifest;
      const files = new Map(manifest.files.map((f) => [f.key, f]));
      const batchCases = [];
      for (const c of cases) {
        const key = [...files.keys()].find((k) => k.endsWith(`/test/cases/${c.caseId}/ct.nii.gz`));
        if (!key) throw new Error(`no input file for ${c.caseId}`);
        mkdirSync(join(ref, 'input', 'cases', c.caseId));
        await storage.downloadToFile('inputs', key, join(ref, 'input', 'cases', c.caseId, 'ct.nii.gz'));
        chmodSync(join(ref, 'input', 'cases', c.caseId), 0o755);
        chmodSync(join(ref, 'input', 'cases', c.caseId, 'ct.nii.gz'), 0o644);
        batchCases.push({ caseId: c.caseId, inputs: { ct: `cases/${c.caseId}/ct.nii.gz` } });
      }
      const def = definition as { interface: unknown; limits: { resources: { cpus: number; memoryMiB: number } } };
      writeFileSync(join(ref, 'input', 'manifest.json'), JSON.stringify({ benchmark, task: 'segmentation', interface: def.interface, cases: batchCases }));
      copyFileSync(join(FIXTURE, 'model.onnx'), join(ref, 'model', 'model.onnx'));
      copyFileSync(join(FIXTURE, 'manifest.json'), join(ref, 'model', 'manifest.json'));
      for (const d of [ref, join(ref, 'input'), join(ref, 'input', 'cases'), join(ref, 'model')]) chmodSync(d, 0o755);
      const runtime = (JSON.parse((await exec('docker', ['info', '--format', '{{json .Runtimes}}'])).stdout) as Record<string, unknown>)['runsc'] ? 'runsc' : 'runc';
      const r = def.limits.resources;
      const tRef = Date.now();
      const out = await exec(
        'docker',
        [
          'run', '--rm', `--runtime=${runtime}`, '--network=none', '--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges', '--user=65534:65534',
          `--memory=${r.memoryMiB}m`, `--memory-swap=${r.memoryMiB}m`, `--cpus=${r.cpus}`, '--pids-limit=256', '--tmpfs=/tmp:rw,noexec,nosuid,nodev,size=64m', '--shm-size=64m',
          '--tmpfs=/output:size=1g,uid=65534', '-v', `${join(ref, 'input')}:/input:ro`, '-v', `${join(ref, 'model')}:/model:ro`,
          stack.config.sandbox.runnerImage, 'node', '/opt/runner/runner.js', 'predict',
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      const wallMs = Date.now() - tRef;
      const m = /predicted (\d+) case\(s\) in (\d+) ms/.exec(out.stderr);
      if (!m || Number(m[1]) !== cases.length) throw new Error(`reference run did not predict ${cases.length} cases: ${out.stderr.slice(-500)}`);
      reference = { wallMs, inContainerMs: Number(m[2]), runtime };
    }

    const t = run.timings;
    const n = cases.length;
    const total = t['totalMs'] ?? 0;
    const inside = t['sandboxWaitMs'] ?? 0;
    // The determinism re-run (a seeded sample inferred once more, its own sandbox batch) is inference the facility adds
    // on purpose: shown on its own line and left out of the share outside inference.
    const determinismMs = t['determinismMs'] ?? 0;
    const s = (ms: number | undefined): string => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
    const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
    const lagWhole = lagOf(wholeRun);
    const lagScoring = scoring ? lagOf(scoring) : null;
    const known = ['determinismMs', 'queueWaitMs', 'prepareMs', 'sandboxCreateMs', 'sandboxStartMs', 'sandboxWaitMs', 'sandboxRemoveMs', 'sandboxTotalMs', 'scoringMs', 'scoringReadMs', 'totalMs'];
    // parse and store overlap the next batch's container (src/runs/run-batches.ts): their sum is work, not all of it wall time.
    const parts = ['queueWaitMs', 'prepareMs', 'sandboxTotalMs', 'fetchInputsMs', 'batchIoMs', 'parseOutputMs', 'storeOutputMs', 'scoringMs', 'determinismMs'];
    const other = total - parts.reduce((a, k) => a + (t[k] ?? 0), 0);
    const label: Record<string, string> = {
      fetchInputsMs: 'fetch case files from the object store',
      batchIoMs: 'write /input (copy case files, model), release /output',
      parseOutputMs: 'parse and check the masks',
      storeOutputMs: 'store the masks as run artifacts',
    };
    const lines = [
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end.`,
      `Cohort: ${args.cases} SYNTHETIC phantoms ${SIZE.join('×')} (seed ${SEED}, ${statSync(cohortDir).isDirectory() ? cohortDir.replace(`${ROOT}/`, '') : ''}); ingest ${s(ingestMs)}; held-out split ${n} cases (sample ${SAMPLE_SIZE}); batch size ${(definition as { limits: { resources: { batchSize: number } } }).limits.resources.batchSize}.`,
      `Worker: ${args.inProcessWorker ? 'in the API process' : 'separate process (node dist/src/worker.js)'}.`,
      '',
      '| what | value |',
      '|---|---|',
      `| upload → held-out run succeeded (includes the 4-case sample run) | ${s(evaluationMs)} |`,
      `| held-out run: queued → succeeded | ${s(total)} |`,
      `| **cases per second (held-out run)** | **${(n / (total / 1000)).toFixed(3)}** |`,
      `| queue wait | ${s(t['queueWaitMs'])} |`,
      `| prepare (model from object store, cases.jsonl) | ${s(t['prepareMs'])} |`,
      `| **inside inference: sandbox wait (node + ORT load + inference, all batches)** | **${s(inside)}** |`,
      `| sandbox create + start + remove (all batches) | ${s((t['sandboxCreateMs'] ?? 0) + (t['sandboxStartMs'] ?? 0) + (t['sandboxRemoveMs'] ?? 0))} |`,
      ...Object.entries(t).filter(([k]) => !known.includes(k)).map(([k, v]) => `| ${label[k] ?? k} | ${s(v)} (${s(v / n)} per case) |`),
      `| scoring (read masks back, surface distances, bootstrap CIs, subgroups) | ${s(t['scoringMs'])} (${s((t['scoringMs'] ?? 0) / n)} per case; reading the stored masks back ${s(t['scoringReadMs'])}) |`,
      `| other (state transitions, storing predictions, score job queue; below zero where parse and store overlapped the containers) | ${s(other)} |`,
      `| determinism re-run (one extra sandbox batch of a seeded sample, with its container start and comparison) | ${s(determinismMs)} |`,
      `| **outside inference (total − sandbox wait − determinism re-run)** | **${s(total - inside - determinismMs)} = ${pct((total - inside - determinismMs) / (total - determinismMs))}** |`,
      ...(reference
        ? [
            `| reference: bare \`docker run --runtime=${reference.runtime}\`, one container, ${n} cases | ${s(reference.wallMs)} (runner's own predict loop ${s(reference.inContainerMs ?? undefined)}) |`,
            `| **outside inference vs the bare run (total − reference)** | **${s(total - reference.wallMs)} = ${pct((total - reference.wallMs) / total)}** |`,
          ]
        : []),
      `| worker peak RSS (VmHWM) | ${args.inProcessWorker ? '(in process)' : `${workerPeak.toFixed(0)} MiB`} |`,
      `| API process peak RSS (VmHWM, includes the ingest) | ${apiPeak.toFixed(0)} MiB |`,
      `| API event-loop lag (beyond the 10 ms timer), whole held-out run: p50 / p99 / max | ${lagWhole.p50.toFixed(1)} / ${lagWhole.p99.toFixed(1)} / ${lagWhole.max.toFixed(1)} ms (${lagWhole.samples} samples) |`,
      `| API event-loop lag while the worker scores (${s(scoringObservedMs)} observed): p50 / p99 / max | ${lagScoring ? `${lagScoring.p50.toFixed(1)} / ${lagScoring.p99.toFixed(1)} / ${lagScoring.max.toFixed(1)} ms (${lagScoring.samples} samples)` : 'scoring not observed (shorter than a poll)'} |`,
      '',
      `Dice ${run.metrics['dice']?.value?.toFixed(4) ?? '–'}, NSD ${run.metrics['nsd']?.value?.toFixed(4) ?? '–'}. Raw timings: ${JSON.stringify(t)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    clearInterval(workerSampler);
    if (worker && worker.exitCode === null) {
      const gone = new Promise((r) => worker?.once('exit', r));
      worker.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    await stack.close();
    rmSync(join(work, 'ref'), { recursive: true, force: true });
    process.stderr.write(`worker log: ${join(work, 'worker.log')}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
