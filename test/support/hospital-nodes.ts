import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateCohortDescriptor } from '../../src/cohorts/cohort-ingest';
import { loadConfig } from '../../src/config/config.schema';
import { NodeAgent, type NodeJobHandler } from '../../src/federation/node-agent';
import { generateNodeKeyFile, type NodeKeys } from '../../src/federation/node-keys';
import type { NodePolicy } from '../../src/federation/node-policy';
import { evaluationHandler, hubArtifactFetcher } from '../../src/node-runs/evaluation-handler';
import { cohortRegistration, NodeCohortCatalogue, type NodeCohortVersion } from '../../src/node-runs/node-cohorts';
import { NodeEvaluator } from '../../src/node-runs/node-evaluator';
import { NodeRunsModule } from '../../src/node-runs/node-runs.module';
import { freePort, REPO_ROOT, type TestStack } from './test-stack';

/** A federated node in this process: its own object store and sandbox work root, registered at the hub. */
export interface HospitalNode {
  name: string;
  ctx: INestApplicationContext;
  cohort: NodeCohortVersion;
  keys: NodeKeys;
  id: string;
  agent: NodeAgent | null;
  dataDir: string;
  /** This hospital's case id prefix (its rows renumbered: ids the hub has never seen). */
  prefix: string;
  /** The WDBC rows (source CSV lines, ids replaced) this node holds. */
  rows: string[];
}

export const WDBC_CSV = readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8');
const LINES = WDBC_CSV.trimEnd().split('\n');
export const WDBC_HEADER = LINES[0] as string;
export const WDBC_ROWS = LINES.slice(1);

/**
 * Hospital nodes holding WDBC's rows split among them, each with its own case ids, ingested with the facility's code
 * into its own store, registered at the hub (admin: public key; node: cohort metadata over its signed request).
 */
export async function startHospitalNodes(stack: TestStack, spec: { name: string; prefix: string; rows: string[] }[], policy: NodePolicy, cohortSlug = 'wdbc-site'): Promise<HospitalNode[]> {
  const descriptor = parseYaml(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
  const nodes: HospitalNode[] = [];
  for (const { name, prefix, rows } of spec) {
    const dataDir = mkdtempSync(join(tmpdir(), `assay-${name}-`));
    const config = loadConfig({ ASSAY_MODE: 'test', ASSAY_S3_EMBEDDED_PORT: String(await freePort()), ASSAY_DATA_DIR: dataDir, ASSAY_WORKER_ID: `${name}-${randomBytes(3).toString('hex')}`, ASSAY_WORKER_GPUS: 'none', ASSAY_LOG_LEVEL: 'warn' });
    const ctx = await NestFactory.createApplicationContext(NodeRunsModule.forRoot(config), { logger: ['error', 'warn'] });
    const own = rows.map((line, i) => `${prefix}-${String(i + 1).padStart(4, '0')}${line.slice(line.indexOf(','))}`);
    const { version } = await ctx.get(NodeCohortCatalogue).ingestTabular(validateCohortDescriptor({ ...descriptor, slug: cohortSlug, title: `WDBC at ${name}` }), Buffer.from(`${WDBC_HEADER}\n${own.join('\n')}\n`));
    const file = generateNodeKeyFile();
    const keys: NodeKeys = { privateKey: createPrivateKey(file.privateKeyPem), publicKey: file.publicKey, keyId: file.keyId, pseudonymSecret: Buffer.from(file.pseudonymSecret, 'base64') };
    const id = (await stack.admin.post<{ id: string }>('/api/nodes', { name, publicKey: file.publicKeyPem, policy })).id;
    const registrar = new NodeAgent({ hubUrl: stack.baseUrl, nodeId: id, keys, policy, handlers: [], heartbeatMs: 500, describe: () => ({ versions: {}, runtimes: [], gpus: [], cohorts: [] }), log: () => undefined });
    await registrar.request('POST', '/api/node/cohorts', cohortRegistration(version));
    nodes.push({ name, ctx, cohort: version, keys, id, agent: null, dataDir, prefix, rows: own });
  }
  return nodes;
}

/** Starts a node's agent: heartbeats, long polls, and answers evaluation jobs with the node's evaluator. */
export function startNodeAgent(stack: TestStack, n: HospitalNode, policy: NodePolicy, wrap: (handler: NodeJobHandler) => NodeJobHandler = (h) => h): void {
  n.agent = new NodeAgent({
    hubUrl: stack.baseUrl,
    nodeId: n.id,
    keys: n.keys,
    policy,
    handlers: [wrap(evaluationHandler(n.ctx.get(NodeEvaluator), hubArtifactFetcher({ hubUrl: stack.baseUrl, nodeId: n.id, keys: n.keys }), n.keys.pseudonymSecret))],
    heartbeatMs: 500,
    leaseWaitMs: 2000,
    retryBaseMs: 100,
    describe: () => ({ versions: { assay: 'test', node: process.version }, runtimes: ['runsc'], gpus: [], cohorts: [n.cohort.slug] }),
    log: () => undefined,
  });
  n.agent.start();
}

export async function stopHospitalNodes(nodes: readonly HospitalNode[]): Promise<void> {
  for (const n of nodes) {
    await n.agent?.stop();
    await n.ctx.close();
    rmSync(n.dataDir, { recursive: true, force: true });
  }
}

/** The wdbc-malignancy definition with its held-out phase on the given nodes (the pre-flight stays at the hub). */
export function federatedWdbcDefinition(slug: string, nodes: readonly { name: string }[], cohortSlug = 'wdbc-site'): Record<string, unknown> {
  const raw = parseYaml(readFileSync(join(REPO_ROOT, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as Record<string, unknown> & { phases: Record<string, unknown>[] };
  return {
    ...raw,
    slug,
    title: `WDBC malignancy over ${nodes.length} hospitals`,
    phases: [raw.phases[0], { ...raw.phases[1], federation: { nodes: nodes.map((n) => ({ node: n.name, cohort: cohortSlug })), egress: 'score-distributions', waitForNodeHours: 1 } }],
  };
}
