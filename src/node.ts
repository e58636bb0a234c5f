import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { join } from 'node:path';
import { packageRoot } from './common/package-root';
import { ConfigValidationError } from './config/config.schema';
import { loadConfigFromProcess } from './config/config.module';
import { NodeAgent } from './federation/node-agent';
import { readNodeKeyFile } from './federation/node-keys';
import { parsePolicy } from './federation/node-policy';
import { NestFactory } from '@nestjs/core';
import { detectGpus } from './sandbox/gpu-inventory';
import { evaluationHandler, hubArtifactFetcher } from './node-runs/evaluation-handler';
import { cohortRegistration, NodeCohortCatalogue } from './node-runs/node-cohorts';
import { NodeEvaluator } from './node-runs/node-evaluator';
import { NodeRunsModule } from './node-runs/node-runs.module';

/**
 * A federated node (issue 11): the worker in node mode at a data provider. It talks to the hub only by outbound HTTP(S)
 * (ASSAY_HUB_URL) and needs none of the hub's Postgres or Redis. Needs ASSAY_NODE_ID (from the hub's admin),
 * ASSAY_NODE_KEY_FILE (`assay node keygen`) and ASSAY_NODE_POLICY_FILE.
 */
async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const f = config.federation;
  const problems = [...(f.hubUrl ? [] : ['ASSAY_HUB_URL: required for a node']), ...(f.nodeId ? [] : ['ASSAY_NODE_ID: required for a node (the id the hub gave at registration)'])];
  if (problems.length > 0) throw new ConfigValidationError(problems);
  const keys = readNodeKeyFile(f.keyFile);
  const policy = parsePolicy(readFileSync(f.policyFile, 'utf8'));
  const gpus = await detectGpus(config.worker.gpus);
  // The node's own Docker engine (its sandbox): reported, not required to start (a node without one refuses nothing
  // here; its handlers fail their jobs instead).
  const engine = await new Docker({ socketPath: config.sandbox.dockerSocket })
    .info()
    .then((i: { ServerVersion?: string; Runtimes?: Record<string, unknown> }) => ({ version: i.ServerVersion ?? 'unknown', runtimes: Object.keys(i.Runtimes ?? {}).sort() }))
    .catch(() => null);
  const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  // The node's own object store (its cohorts' inputs and truth) and sandbox: no database, no queue.
  const ctx = await NestFactory.createApplicationContext(NodeRunsModule.forRoot(config), { logger: ['error', 'warn', 'log'] });
  const catalogue = ctx.get(NodeCohortCatalogue);
  let cohorts = (await catalogue.list()).map((c) => c.slug);
  const hub = { hubUrl: f.hubUrl as string, nodeId: f.nodeId as string, keys };
  const agent = new NodeAgent({
    ...hub,
    policy,
    handlers: [evaluationHandler(ctx.get(NodeEvaluator), hubArtifactFetcher(hub), keys.pseudonymSecret)],
    heartbeatMs: f.heartbeatMs,
    describe: () => ({
      versions: { assay: version, node: process.version, ...(engine ? { docker: engine.version } : {}) },
      runtimes: engine?.runtimes ?? [],
      gpus: gpus.devices.map((d) => ({ index: Number(d.id), name: d.name ?? `gpu ${d.id}`, ...(d.memoryMiB ? { memoryMb: d.memoryMiB } : {}) })),
      cohorts,
    }),
  });
  agent.start();
  // Each cohort this node holds is registered at the hub as metadata only (an identical re-send is accepted).
  void (async () => {
    for (const version of await catalogue.list()) {
      for (let wait = 1_000; ; wait = Math.min(wait * 2, 60_000)) {
        try {
          await agent.request('POST', '/api/node/cohorts', cohortRegistration(version));
          break;
        } catch (error) {
          process.stderr.write(`node: cohort ${version.slug} not registered yet (${(error as Error).message}); retrying\n`);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    }
    cohorts = (await catalogue.list()).map((c) => c.slug);
  })();
  process.stdout.write(`Assay node ${f.nodeId} (key ${keys.keyId}) polling ${f.hubUrl}; egress: ${policy.egress}\n`);
  const stop = (signal: string): void => {
    process.stdout.write(`node: ${signal}, stopping\n`);
    agent
      .stop()
      .then(() => ctx.close())
      .then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
