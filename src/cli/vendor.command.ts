import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { AssayClient } from './api-client';

interface ApiOptions {
  api: string;
  token?: string;
}

const clientOf = (opts: ApiOptions): AssayClient => {
  const token = opts.token ?? readTokenFromEnvFile();
  if (!token) throw new Error('no API token: pass --token or set it with `assay login`');
  return new AssayClient(opts.api.replace(/\/$/, ''), token);
};

function readTokenFromEnvFile(): string | undefined {
  try {
    return readFileSync('.assay/token', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

const withApi = (cmd: Command): Command =>
  cmd.option('--api <url>', 'Assay API base URL', 'http://127.0.0.1:3000').option('--token <token>', 'API token (default: .assay/token)');

const INTENDED_USE_HELP =
  'intended use as JSON: {"purpose" (required), "targetCondition", "population", "users", "setting", "inputConstraints", "outputType", "operatingMode": standalone|second-reader|concurrent|triage}; part of the validation report, fixed once uploaded';

/**
 * The upload field `intendedUse` from a JSON file: checked to be a JSON object here (so a typo fails before the
 * upload starts); the API validates its fields and names any it refuses.
 */
export function intendedUseField(path: string | undefined): { intendedUse?: string } {
  if (path === undefined) return {};
  const text = readFileSync(path, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`--intended-use ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`--intended-use ${path}: must hold a JSON object such as {"purpose": "…"}`);
  return { intendedUse: JSON.stringify(value) };
}

/** Commands for vendors and evaluators; all go through the HTTP API. */
export function registerVendorCommands(program: Command): void {
  withApi(program.command('submit'))
    .description('upload an ONNX model with its manifest to a benchmark (progress bar), then follow its runs')
    .requiredOption('--benchmark <slug>', 'benchmark slug')
    .requiredOption('--model <path>', 'model.onnx')
    .requiredOption('--manifest <path>', 'manifest.json')
    .option('--intended-use <path>', INTENDED_USE_HELP)
    .option('--no-follow', 'do not wait for the runs')
    .action(async (opts: ApiOptions & { benchmark: string; model: string; manifest: string; intendedUse?: string; follow: boolean }) => {
      const client = clientOf(opts);
      const fields = { benchmark: opts.benchmark, manifest: readFileSync(opts.manifest, 'utf8'), ...intendedUseField(opts.intendedUse) };
      const submission = await uploadWithProgress(client, '/api/submissions', fields, 'model', opts.model);
      process.stdout.write(`submission ${submission.id}: ${submission.status}\n`);
      if (opts.follow && (await followSubmission(client, submission.id)) === 'rejected') process.exitCode = 2;
    });

  withApi(program.command('submit-image'))
    .description('upload a container image (`docker save` tarball, .tar or .tar.gz) with a progress bar, then follow its runs')
    .requiredOption('--benchmark <slug>', 'benchmark slug')
    .requiredOption('--image <path>', 'the tarball: docker save -o image.tar <your image>')
    .requiredOption('--name <name>', 'algorithm name')
    .requiredOption('--version <version>', 'algorithm version')
    .option('--intended-use <path>', INTENDED_USE_HELP)
    .option('--no-follow', 'do not wait for the runs')
    .action(async (opts: ApiOptions & { benchmark: string; image: string; name: string; version: string; intendedUse?: string; follow: boolean }) => {
      const client = clientOf(opts);
      const fields = { benchmark: opts.benchmark, name: opts.name, version: opts.version, ...intendedUseField(opts.intendedUse) };
      const submission = await uploadWithProgress(client, '/api/submissions/container', fields, 'image', opts.image);
      process.stdout.write(`submission ${submission.id}: ${submission.status}\n`);
      if (opts.follow && (await followSubmission(client, submission.id)) === 'rejected') process.exitCode = 2;
    });

  withApi(program.command('watch'))
    .description('follow the runs of a submission until they finish')
    .argument('<submissionId>')
    .action(async (id: string, opts: ApiOptions) => {
      if ((await followSubmission(clientOf(opts), id)) === 'rejected') process.exitCode = 2;
    });

  withApi(program.command('leaderboard'))
    .description('print a benchmark leaderboard')
    .requiredOption('--benchmark <slug>', 'benchmark slug')
    .option('--phase <phase>', 'phase', 'test')
    .option('--json', 'print JSON', false)
    .action(async (opts: ApiOptions & { benchmark: string; phase: string; json: boolean }) => {
      const board = await readWholeLeaderboard((path) => clientOf(opts).get<LeaderboardView>(path), opts.benchmark, opts.phase);
      process.stdout.write(opts.json ? `${JSON.stringify(board, null, 2)}\n` : formatLeaderboard(board));
    });

  withApi(program.command('sample-data'))
    .description("download a benchmark's sample split with labels (CSV)")
    .requiredOption('--benchmark <slug>', 'benchmark slug')
    .requiredOption('--out <path>', 'where to write the CSV')
    .action(async (opts: ApiOptions & { benchmark: string; out: string }) => {
      const csv = await clientOf(opts).get<string>(`/api/benchmarks/${opts.benchmark}/sample-data`);
      writeFileSync(opts.out, csv);
      process.stdout.write(`wrote ${opts.out}\n`);
    });
}

/** A streamed multipart upload with a progress bar in bytes; the API answers 202 `validating` once it is stored. */
async function uploadWithProgress(client: AssayClient, path: string, fields: Record<string, string>, fileField: string, filePath: string): Promise<{ id: string; status: string }> {
  const bar = new SingleBar({ format: 'upload [{bar}] {percentage}% {value}/{total} bytes | {stage}', hideCursor: true });
  let started = false;
  try {
    return await client.uploadMultipart<{ id: string; status: string }>(path, {
      fields,
      fileField,
      filePath,
      onProgress: (sent, total) => {
        if (!started) {
          bar.start(total, 0, { stage: 'sending' });
          started = true;
        }
        bar.update(sent, { stage: sent >= total ? 'stored, waiting for the answer' : 'sending' });
      },
    });
  } finally {
    bar.stop();
  }
}

/**
 * Follows a submission from `validating` to the worker's verdict (printed once it is known: accepted, or rejected with
 * its reason), then each of its runs with a progress bar. Returns the verdict.
 */
export async function followSubmission(client: AssayClient, submissionId: string, log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<'accepted' | 'rejected'> {
  const seen = new Set<string>();
  let shown = '';
  for (;;) {
    const s = await client.get<{ status: string; rejectionReason: string | null; runs: { id: string; phase: string; status: string }[] }>(`/api/submissions/${submissionId}`);
    if (s.status !== shown) {
      shown = s.status;
      if (s.status === 'validating') log('validating: the worker checks the model before any run');
      else if (s.status === 'accepted') log('accepted');
    }
    if (s.status === 'rejected') {
      log(`rejected: ${s.rejectionReason ?? ''}`);
      return 'rejected';
    }
    const next = s.runs.find((r) => !seen.has(r.id));
    if (!next) {
      if (s.status === 'accepted' && s.runs.length > 0 && s.runs.every((r) => ['succeeded', 'failed', 'cancelled'].includes(r.status))) {
        const last = s.runs[s.runs.length - 1];
        if (last && (last.status !== 'succeeded' || seen.size >= s.runs.length)) return 'accepted';
      }
      await new Promise((r) => setTimeout(r, s.status === 'validating' ? 500 : 200));
      continue;
    }
    seen.add(next.id);
    const bar = new SingleBar({ format: `  ${next.phase.padEnd(8)} [{bar}] {percentage}% {value}/{total} cases | {status}`, hideCursor: true });
    let started = false;
    const end = await client.followRun(next.id, (e) => {
      if (!started) {
        bar.start(Math.max(1, e.casesTotal), 0, { status: e.status });
        started = true;
      }
      bar.update(e.casesDone, { status: e.status });
    });
    bar.stop();
    log(`  ${next.phase}: ${end.status}${end.failureReason ? ` (${end.failureReason}${end.failureDetail ? `: ${end.failureDetail}` : ''})` : ''}${end.durationMs !== null ? ` in ${end.durationMs} ms` : ''}`);
    if (end.status !== 'succeeded') return 'accepted';
    // A passed pre-flight queues the next phase; give it a moment to appear.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const again = await client.get<{ runs: { id: string }[] }>(`/api/submissions/${submissionId}`);
      if (again.runs.length > seen.size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = await client.get<{ runs: { id: string }[] }>(`/api/submissions/${submissionId}`);
    if (after.runs.length <= seen.size) return 'accepted';
  }
}

export interface LeaderboardView {
  benchmark: string;
  phase: string;
  primaryMetric: string;
  ranking: string;
  robustness?: { kendallTau: { median: number; q25: number; q75: number } | null; replicates: number; seed: number } | null;
  /** Per metric, the method of the board's rows (a row's metric carries `method` only where its own differs). */
  methods?: Record<string, string>;
  total?: number;
  offset?: number;
  limit?: number;
  rows: {
    rank: number;
    rankInterval?: [number, number] | null;
    organisation: string;
    submission: string;
    metrics: Record<string, { value: number | null; ci: [number, number] | null; method?: string }>;
    /** A federated entry's per-site rows. */
    sites?: { site: string; n: number | null; suppressed: boolean; metrics: Record<string, { value: number | null; ci: [number, number] | null }> }[] | null;
  }[];
}

/** Every row of a board: the API serves it in pages (`total`, `offset`, `limit`); read them all, in rank order. */
export async function readWholeLeaderboard(get: (path: string) => Promise<LeaderboardView>, slug: string, phase: string): Promise<LeaderboardView> {
  const base = `/api/benchmarks/${encodeURIComponent(slug)}/leaderboard?phase=${encodeURIComponent(phase)}&limit=1000`;
  const first = await get(`${base}&offset=0`);
  const rows = [...first.rows];
  while (first.total !== undefined && rows.length < first.total) {
    const next = await get(`${base}&offset=${rows.length}`);
    if (next.rows.length === 0) break;
    rows.push(...next.rows);
  }
  return { ...first, offset: 0, limit: rows.length, rows };
}

export function formatLeaderboard(board: LeaderboardView): string {
  const names = board.rows[0] ? Object.keys(board.rows[0].metrics) : [board.primaryMetric];
  const cell = (m: { value: number | null; ci: [number, number] | null } | undefined): string =>
    m?.value === null || m?.value === undefined ? 'n/a' : `${m.value.toFixed(3)}${m.ci ? ` [${m.ci[0].toFixed(3)}, ${m.ci[1].toFixed(3)}]` : ''}`;
  const header = ['rank', 'rank 95% CI', 'organisation', 'submission', ...names];
  const interval = (r: LeaderboardView['rows'][number]): string => (r.rankInterval ? `[${r.rankInterval[0]}, ${r.rankInterval[1]}]` : '-');
  // A federated entry: its pooled row, then one row per site beneath it.
  const rows = board.rows.flatMap((r) => [
    [String(r.rank), interval(r), r.organisation, r.submission, ...names.map((n) => cell(r.metrics[n]))],
    ...(r.sites ?? []).map((s) => ['', '', `  site ${s.site}`, s.n === null ? '' : `n = ${s.n}`, ...names.map((n) => (s.suppressed ? 'suppressed' : cell(s.metrics[n])))]),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cols: string[]): string => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  const tau = board.robustness?.kendallTau;
  const stability = tau ? `rank stability: bootstrap B=${board.robustness?.replicates} (seed ${board.robustness?.seed}), Kendall τ median ${tau.median.toFixed(3)} [IQR ${tau.q25.toFixed(3)}, ${tau.q75.toFixed(3)}]` : '';
  return [`${board.benchmark} — phase ${board.phase} — ranked by ${board.primaryMetric} (${board.ranking}); 95% CIs in brackets`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), stability, ''].join('\n');
}
