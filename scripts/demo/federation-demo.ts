import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ApiError, type AssayClient } from '../../src/cli/api-client';
import { followSubmission, formatLeaderboard, type LeaderboardView } from '../../src/cli/vendor.command';
import { generateNodeKeyFile, readNodeKeyFile, writeNodeKeyFile } from '../../src/federation/node-keys';
import type { NodePolicy } from '../../src/federation/node-policy';

export const FEDERATED_BENCHMARK = 'wdbc-federated';
const HOSPITALS = [
  { name: 'hospital-a', prefix: 'HOSPA', rows: [0, 285] as const },
  { name: 'hospital-b', prefix: 'HOSPB', rows: [285, 569] as const },
];
const POLICY: NodePolicy = { acceptedBenchmarks: [FEDERATED_BENCHMARK], acceptedVendorOrganisations: ['*'], resourceLimits: { maxCpus: 2, maxMemoryMb: 2048 }, egress: 'score-distributions' };

const freePort = (): Promise<number> =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });

const alive = (pidFile: string): boolean => {
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/src/node.js');
  } catch {
    return false;
  }
};

/**
 * Federation (issue 11): two hospital nodes, each its own process with its own object store and its own WDBC rows
 * (case ids the hub never sees), connect out to the hub; the evaluator defines a benchmark whose held-out phase runs
 * on both; a vendor's model is run at each hospital and the hub shows the pooled AUROC (exact, from the nodes' score
 * distributions), the per-site rows and the heterogeneity. The nodes keep running (scripts/stop.sh stops them).
 */
export async function federationStep(input: { admin: AssayClient; vendor: AssayClient; api: string; stateDir: string; model: { modelPath: string; manifest: unknown }; say: (line: string) => void }): Promise<void> {
  const { admin, vendor, api, stateDir, say } = input;
  const root = resolve(__dirname, '../../..');
  const csv = readFileSync(join(root, 'cohorts/wdbc/wdbc.csv'), 'utf8').trimEnd().split('\n');
  const descriptor = parseYaml(readFileSync(join(root, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
  say('\nFederation: two hospital nodes hold their own WDBC rows; the held-out phase of wdbc-federated runs on them');
  for (const h of HOSPITALS) {
    const dir = join(stateDir, 'nodes', h.name);
    const cohortDir = join(dir, 'cohort');
    mkdirSync(cohortDir, { recursive: true });
    const rows = csv.slice(1 + h.rows[0], 1 + h.rows[1]).map((line, i) => `${h.prefix}-${String(i + 1).padStart(4, '0')}${line.slice(line.indexOf(','))}`);
    writeFileSync(join(cohortDir, 'wdbc.csv'), `${csv[0]}\n${rows.join('\n')}\n`);
    writeFileSync(join(cohortDir, 'cohort.yaml'), stringifyYaml({ ...descriptor, slug: 'wdbc-site', title: `WDBC rows held at ${h.name}` }));
    writeFileSync(join(dir, 'node-policy.json'), JSON.stringify(POLICY, null, 2));
    const keyFile = join(dir, 'private', 'node-key.json');
    if (!existsSync(keyFile)) {
      mkdirSync(join(dir, 'private'), { recursive: true, mode: 0o700 });
      writeNodeKeyFile(keyFile, generateNodeKeyFile());
    }
    const keys = readNodeKeyFile(keyFile);
    const known = (await admin.get<{ id: string; name: string; currentKey: { keyId: string } | null }[]>('/api/nodes')).find((n) => n.name === h.name);
    const nodeId = known?.id ?? (await admin.post<{ id: string }>('/api/nodes', { name: h.name, publicKey: keys.publicKey, policy: POLICY })).id;
    if (known && known.currentKey?.keyId !== keys.keyId) await admin.post(`/api/nodes/${nodeId}/keys`, { publicKey: keys.publicKey });
    const env = { ...process.env, ASSAY_DATA_DIR: dir, ASSAY_S3_EMBEDDED_PORT: String(await freePort()), ASSAY_WORKER_ID: `node-${h.name}`, ASSAY_WORKER_GPUS: 'none', ASSAY_HUB_URL: api, ASSAY_NODE_ID: nodeId, ASSAY_NODE_KEY_FILE: keyFile, ASSAY_NODE_POLICY_FILE: join(dir, 'node-policy.json'), ASSAY_NODE_HEARTBEAT_MS: '2000' };
    // The hospital's own ingestion (the facility's code), into its own store.
    const ingest = spawnSync('node', ['dist/src/cli/main.js', 'node', 'ingest', cohortDir], { cwd: root, env, encoding: 'utf8' });
    if (ingest.status !== 0) throw new Error(`${h.name}: node ingest failed: ${ingest.stderr}`);
    say(`  ${h.name}: ${ingest.stdout.trim()}`);
    const pidFile = join(stateDir, 'run', `node-${h.name}.pid`);
    if (alive(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8')));
    mkdirSync(join(stateDir, 'logs'), { recursive: true });
    const log = openSync(join(stateDir, 'logs', `node-${h.name}.log`), 'a');
    const child = spawn('node', ['dist/src/node.js'], { cwd: root, env, detached: true, stdio: ['ignore', log, log] });
    child.unref();
    closeSync(log);
    writeFileSync(pidFile, String(child.pid));
    say(`  ${h.name}: node ${nodeId} started (pid ${child.pid}, log ${join(stateDir, 'logs', `node-${h.name}.log`)}); outbound to ${api} only`);
  }
  // Online, with its cohort registered (metadata only), before the benchmark pins it.
  for (let i = 0; ; i++) {
    const nodes = await admin.get<{ name: string; status: string; cohorts: { name: string }[] }[]>('/api/nodes');
    const ready = HOSPITALS.every((h) => nodes.some((n) => n.name === h.name && n.status === 'online' && n.cohorts.some((c) => c.name === 'wdbc-site')));
    if (ready) break;
    if (i > 120) throw new Error('the hospital nodes did not come online within 60 s (see their logs)');
    await new Promise((r) => setTimeout(r, 500));
  }
  const raw = parseYaml(readFileSync(join(root, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as Record<string, unknown> & { phases: Record<string, unknown>[] };
  await admin.post('/api/benchmarks', {
    ...raw,
    slug: FEDERATED_BENCHMARK,
    title: 'WDBC malignancy held out at two hospitals (federated)',
    phases: [raw.phases[0], { ...raw.phases[1], federation: { nodes: HOSPITALS.map((h) => ({ node: h.name, cohort: 'wdbc-site' })), egress: 'score-distributions', waitForNodeHours: 24 } }],
  });
  say(`  benchmark ${FEDERATED_BENCHMARK}: pre-flight on the facility's public sample, held-out phase at ${HOSPITALS.map((h) => h.name).join(' and ')}`);
  let submissionId: string | null = null;
  try {
    const submission = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: FEDERATED_BENCHMARK, manifest: JSON.stringify(input.model.manifest) }, fileField: 'model', filePath: input.model.modelPath });
    submissionId = submission.id;
    await followSubmission(vendor, submission.id, (l) => say(`  ${l}`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 429) say(`  ${error.message}: its earlier submissions stay on the leaderboard`);
    else throw error;
  }
  say(`\n${formatLeaderboard(await admin.get<LeaderboardView>(`/api/benchmarks/${FEDERATED_BENCHMARK}/leaderboard?phase=test`))}`);
  if (!submissionId) return;
  const runs = (await admin.get<{ runs: { id: string; phase: string }[] }>(`/api/submissions/${submissionId}`)).runs;
  const testRun = runs.find((r) => r.phase === 'test');
  if (!testRun) return;
  const run = await admin.get<{ metrics: Record<string, { value: number | null; ci: [number, number] | null; method: string }> | null; details: { subgroups?: { node?: Record<string, { group: string; n: number | string; value?: number | null; ci?: [number, number] | null }[]> }; federation?: { heterogeneity: Record<string, { i2: number; tau2: number; predictionInterval: [number, number] | null }> } } | null }>(`/api/runs/${testRun.id}`);
  const auroc = run.metrics?.['auroc'];
  const f = (x: number | null | undefined): string => (typeof x === 'number' ? x.toFixed(4) : 'n/a');
  say(`  pooled AUROC ${f(auroc?.value)} [${f(auroc?.ci?.[0])}, ${f(auroc?.ci?.[1])}]: ${auroc?.method.split(';').slice(-1)[0]?.trim() ?? ''}`);
  for (const row of run.details?.subgroups?.node?.['auroc'] ?? []) say(`    ${row.group}: n = ${row.n}, AUROC ${f(row.value)} [${f(row.ci?.[0])}, ${f(row.ci?.[1])}]`);
  const het = run.details?.federation?.heterogeneity['auroc'];
  if (het) say(`    between hospitals: I² = ${(100 * het.i2).toFixed(1)} %, τ² = ${het.tau2.toExponential(2)} (DerSimonian–Laird)`);
}
