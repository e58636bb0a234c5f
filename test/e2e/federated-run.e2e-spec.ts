import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildReferenceModels, type BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import { predictProbability } from '../../scripts/reference-models/logistic-regression';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import type { AssayClient } from '../../src/cli/api-client';
import { validateCohortDescriptor } from '../../src/cohorts/cohort-ingest';
import { loadConfig } from '../../src/config/config.schema';
import { NodeAgent } from '../../src/federation/node-agent';
import { generateNodeKeyFile, type NodeKeys } from '../../src/federation/node-keys';
import type { NodePolicy } from '../../src/federation/node-policy';
import { evaluationHandler, hubArtifactFetcher } from '../../src/node-runs/evaluation-handler';
import { cohortRegistration, NodeCohortCatalogue, type NodeCohortVersion } from '../../src/node-runs/node-cohorts';
import { NodeEvaluator } from '../../src/node-runs/node-evaluator';
import { NodeRunsModule } from '../../src/node-runs/node-runs.module';
import { pairCountAuroc } from '../support/oracles';
import { eventually, freePort, REPO_ROOT, startTestStack, type TestStack } from '../support/test-stack';

jest.setTimeout(600_000);

// A hub (API + worker + sandbox) and two hospital nodes, each with its own object store and sandbox, in this process.
// The nodes hold WDBC's rows split in two, with case ids of their own (the hub never had them); the benchmark's
// held-out phase runs on the nodes, its pre-flight at the hub. One node is offline when the run starts.

interface HospitalNode {
  name: string;
  ctx: INestApplicationContext;
  cohort: NodeCohortVersion;
  keys: NodeKeys;
  id: string;
  agent: NodeAgent | null;
  dataDir: string;
  prefix: string;
}

const csv = readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8');
const lines = csv.trimEnd().split('\n');
const header = lines[0] as string;
const rows = lines.slice(1);
const descriptor = parseYaml(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-federated'], acceptedVendorOrganisations: ['*'], resourceLimits: { maxCpus: 2, maxMemoryMb: 2048 }, egress: 'score-distributions' };

describe('a federated benchmark: pre-flight at the hub, the held-out phase on two hospital nodes, pooled exactly', () => {
  let stack: TestStack;
  let nodes: HospitalNode[];
  let vendor: AssayClient;
  let models: BuildReferenceModelsResult;
  let work: string;

  const startAgent = (n: HospitalNode): void => {
    const evaluator = n.ctx.get(NodeEvaluator);
    n.agent = new NodeAgent({
      hubUrl: stack.baseUrl,
      nodeId: n.id,
      keys: n.keys,
      policy: POLICY,
      handlers: [evaluationHandler(evaluator, hubArtifactFetcher({ hubUrl: stack.baseUrl, nodeId: n.id, keys: n.keys }))],
      heartbeatMs: 500,
      leaseWaitMs: 2000,
      retryBaseMs: 100,
      describe: () => ({ versions: { assay: 'test', node: process.version }, runtimes: ['runsc'], gpus: [], cohorts: [n.cohort.slug] }),
      log: () => undefined,
    });
    n.agent.start();
  };

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    vendor = (await stack.vendor('Vendor F')).client;
    nodes = [];
    for (const [name, prefix, part] of [
      ['hospital-a', 'HOSPA', rows.slice(0, 300)],
      ['hospital-b', 'HOSPB', rows.slice(300)],
    ] as const) {
      const dataDir = mkdtempSync(join(tmpdir(), `assay-${name}-`));
      const config = loadConfig({ ASSAY_MODE: 'test', ASSAY_S3_EMBEDDED_PORT: String(await freePort()), ASSAY_DATA_DIR: dataDir, ASSAY_WORKER_ID: `${name}-${randomBytes(3).toString('hex')}`, ASSAY_WORKER_GPUS: 'none', ASSAY_LOG_LEVEL: 'warn' });
      const ctx = await NestFactory.createApplicationContext(NodeRunsModule.forRoot(config), { logger: ['error', 'warn'] });
      // The hospital's own case ids: nothing the hub has ever seen.
      const own = part.map((line, i) => `${prefix}-${String(i + 1).padStart(4, '0')}${line.slice(line.indexOf(','))}`);
      const { version } = await ctx.get(NodeCohortCatalogue).ingestTabular(validateCohortDescriptor({ ...descriptor, slug: 'wdbc-site', title: `WDBC at ${name}` }), Buffer.from(`${header}\n${own.join('\n')}\n`));
      const file = generateNodeKeyFile();
      const keys: NodeKeys = { privateKey: createPrivateKey(file.privateKeyPem), publicKey: file.publicKey, keyId: file.keyId, pseudonymSecret: Buffer.from(file.pseudonymSecret, 'base64') };
      const id = (await stack.admin.post<{ id: string }>('/api/nodes', { name, publicKey: file.publicKeyPem, policy: POLICY })).id;
      nodes.push({ name, ctx, cohort: version, keys, id, agent: null, dataDir, prefix });
    }
    // Each node registers its cohort (metadata only) over its own signed request.
    for (const n of nodes) {
      const registrar = new NodeAgent({ hubUrl: stack.baseUrl, nodeId: n.id, keys: n.keys, policy: POLICY, handlers: [], heartbeatMs: 500, describe: () => ({ versions: {}, runtimes: [], gpus: [], cohorts: [] }), log: () => undefined });
      await registrar.request('POST', '/api/node/cohorts', cohortRegistration(n.cohort));
    }
    // The evaluator defines the federated benchmark; each node's cohort is pinned by the hash it registered.
    const raw = parseYaml(readFileSync(join(REPO_ROOT, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as Record<string, unknown> & { phases: Record<string, unknown>[] };
    const evaluator = await stack.user('evaluator');
    await evaluator.post('/api/benchmarks', {
      ...raw,
      slug: 'wdbc-federated',
      title: 'WDBC malignancy over two hospitals',
      phases: [raw.phases[0], { ...raw.phases[1], federation: { nodes: nodes.map((n) => ({ node: n.name, cohort: 'wdbc-site' })), egress: 'score-distributions', waitForNodeHours: 1 } }],
    });
    work = mkdtempSync(join(tmpdir(), 'assay-fed-'));
    writeFileSync(join(work, 'sample.csv'), await vendor.get<string>('/api/benchmarks/wdbc-federated/sample-data'));
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
    // Hospital A is online; hospital B is not yet.
    startAgent(nodes[0] as HospitalNode);
  });

  afterAll(async () => {
    for (const n of nodes ?? []) {
      await n.agent?.stop();
      await n.ctx.close();
      rmSync(n.dataDir, { recursive: true, force: true });
    }
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('waits for the offline node, completes when it returns, and pools AUROC exactly over both hospitals', async () => {
    const submitted = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: 'wdbc-federated', manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const waiting = await eventually(
      () => vendor.get<Sub>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'test' && r.status === 'waiting_for_node'),
      300_000,
    );
    const testRunId = (waiting.runs.find((r) => r.phase === 'test') as { id: string }).id;
    const evaluator = await stack.user('evaluator');
    type RunView = { status: string; federation: { nodes: { node: string; status: string; jobId?: string }[]; deadlinePassed: boolean }; metrics: Record<string, { value: number; method: string }> | null; details: Record<string, unknown> | null };
    const seen = await evaluator.get<RunView>(`/api/runs/${testRunId}`);
    expect(seen.federation.nodes.find((n) => n.node === 'hospital-b')?.status).toBe('waiting_for_node');
    expect(seen.federation.deadlinePassed).toBe(false);
    // The vendor sees where the nodes stand, not the hub's job ids.
    const asVendor = await vendor.get<RunView>(`/api/runs/${testRunId}`);
    expect(asVendor.federation.nodes.every((n) => n.jobId === undefined)).toBe(true);

    startAgent(nodes[1] as HospitalNode);
    await eventually(() => evaluator.get<RunView>(`/api/runs/${testRunId}`), (r) => ['succeeded', 'failed'].includes(r.status), 300_000);
    const run = await evaluator.get<RunView>(`/api/runs/${testRunId}`);
    expect(run.status).toBe('succeeded');
    expect(run.federation.nodes.map((n) => [n.node, n.status])).toEqual([
      ['hospital-a', 'done'],
      ['hospital-b', 'done'],
    ]);
    // Oracle: the source labels, the model's probability in float64, AUROC by pair counting over both nodes' test cases.
    const heldOut = new Set(nodes.flatMap((n) => n.cohort.cases.filter((c) => c.split === 'test').map((c) => c.caseId)));
    const all = nodes.flatMap((n, k) => parseCohortCsv(`${header}\n${(k === 0 ? rows.slice(0, 300) : rows.slice(300)).map((line, i) => `${n.prefix}-${String(i + 1).padStart(4, '0')}${line.slice(line.indexOf(','))}`).join('\n')}\n`));
    const test = all.filter((c) => heldOut.has(c.caseId));
    expect(test.length).toBe(heldOut.size);
    const expected = pairCountAuroc(test.map((c) => c.label), test.map((c) => predictProbability(models.logreg.fit, c.features)));
    expect(Math.abs((run.metrics?.['auroc']?.value as number) - expected)).toBeLessThan(1e-4);
    expect(run.metrics?.['auroc']?.method).toMatch(/no case identifiers/);
    const fed = (run.details as { federation: { nodes: number; heterogeneity: Record<string, { i2: number }> }; subgroups: { node: Record<string, { group: string }[]> } }).federation;
    expect(fed.nodes).toBe(2);
    expect(fed.heterogeneity['auroc']?.i2).toEqual(expect.any(Number));
    expect((run.details as { subgroups: { node: Record<string, { group: string }[]> } }).subgroups.node['auroc']?.map((g) => g.group)).toEqual(['hospital-a', 'hospital-b']);

    // On the leaderboard, with the pooled value.
    const board = await eventually(
      () => evaluator.get<{ rows: { submissionId: string; metrics: Record<string, { value: number }> }[] }>('/api/benchmarks/wdbc-federated/leaderboard?phase=test'),
      (b) => b.rows.some((r) => r.submissionId === submitted.id),
    );
    expect(Math.abs((board.rows[0]?.metrics['auroc']?.value as number) - (run.metrics?.['auroc']?.value as number))).toBeLessThan(1e-12);

    // No byte of the nodes' truth or inputs reached the hub: no node case id in its database, object store or logs.
    const dump = execFileSync('pg_dump', ['--data-only', stack.config.database.url], { maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
    const ids = [...nodes.flatMap((n) => n.cohort.cases.map((c) => c.caseId))];
    for (const id of ids) expect(dump.includes(id)).toBe(false);
    const hubFiles = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? hubFiles(join(dir, f)) : [join(dir, f)]));
    const s3 = hubFiles(stack.config.dataDir);
    for (const file of s3) {
      const text = readFileSync(file).toString('latin1');
      for (const n of nodes) expect(text.includes(`${n.prefix}-`)).toBe(false);
    }
  });
});
