import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { type EntityManager, In } from 'typeorm';
import type { PhaseFederationDto } from '../benchmarks/benchmark-definition';
import { BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { Clock } from '../common/clock';
import { Database } from '../database/database.module';
import { NODE_RESULTS_CHANNEL, NodeJobsService, runAttemptKeyPrefix } from '../federation/node-jobs.service';
import { nodeStatus } from '../federation/nodes.dto';
import { NodeJobEntity } from '../federation/nodes.entity';
import { NodesRepository } from '../federation/nodes.repository';
import type { SubmissionEntity } from '../submissions/submissions.entity';
import { EVALUATE_JOB_KIND } from '../federation/node-protocol';
import { EGRESS_LEVELS, type EgressLevel, lowerEgress } from '../federation/node-policy';
import type { NodeEvaluationJob } from '../node-runs/node-evaluator';
import type { SplitName } from '../cohorts/cohorts.entity';
import { type FederatedScore, guardSuppressedSites, type NodeSummaryFrom } from '../tasks/federation';
import { taskDefinition } from '../tasks/registry';
import { FailureReason, RunEntity, type RunFederationState, RunStatus } from './evaluation.entity';
import { EvaluationService } from './evaluation.service';

/** The workerId of a federated run in flight: no worker process owns it; the nodes' jobs do (RunRecovery skips it). */
export const FEDERATION_WORKER = 'federation';
/** Node-side faults of Assay's (the node's engine down, its store away) asked again before the run fails as internal. */
export const MAX_NODE_INTERNAL_RETRIES = 2;

const VENDOR_REASONS: ReadonlySet<string> = new Set([FailureReason.Timeout, FailureReason.OutOfMemory, FailureReason.ExitNonzero, FailureReason.InvalidOutput, FailureReason.MissingPredictions, FailureReason.RejectedImage]);

export function phaseFederation(version: BenchmarkVersionEntity, phase: string): PhaseFederationDto | null {
  return version.definition.phases.find((p) => p.name === phase)?.federation ?? null;
}

/** A node's bootstrap seed for a run: distinct per node (independent within-node resampling), stable across retries. */
export function nodeSeed(runId: string, node: string): number {
  return createHash('sha256').update(`${runId}\u0000${node}`).digest().readUInt32BE(0) & 0x7fffffff;
}

/** What a node's signed result says, read defensively (the node is authenticated, its content still checked). */
interface NodeResult {
  outcome: 'succeeded' | 'failed' | 'refused-by-policy';
  reason?: string;
  output?: { egress?: string; aggregates?: Record<string, unknown>; scoreDistributions?: { positive: number[]; negative: number[] } };
}

/**
 * Runs of a federated phase at the hub (issue 11). The execute step fans the run out as one node job per node (the
 * nodes lease them over their outbound connection); a sweep, run by any worker and safe to repeat, follows the jobs
 * and moves the run on: `scoring` when every node answered, failed when a node reports the vendor's fault (or, after
 * retries, its own), and meanwhile keeps each node's status (`waiting_for_node` while one is offline) on the run. The
 * score step pools the nodes' summaries with the task's federation half. Everything is in the database (the run's row
 * and the node jobs), so a hub worker killed at any point loses nothing: the next sweep carries on.
 */
@Injectable()
export class FederatedRuns implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('FederatedRuns');
  private listener: Client | null = null;
  private closed = false;
  /** Runs being followed now: a notification for one of them is coalesced into one more pass. */
  private readonly following = new Map<string, boolean>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly evaluation: EvaluationService,
    private readonly jobs: NodeJobsService,
    private readonly nodes: NodesRepository,
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  /**
   * A node's stored result wakes its run at once (NOTIFY from NodeJobsService.submitResult, delivered on commit); the
   * worker's periodic sweep covers a lost connection or a notification sent while no worker listened.
   */
  async onModuleInit(): Promise<void> {
    await this.listen().catch((e: unknown) => this.logger.warn(`LISTEN ${NODE_RESULTS_CHANNEL} failed (${String(e)}); federated runs move on at the sweep`));
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.config.database.url });
    client.on('notification', (msg) => {
      if (msg.channel === NODE_RESULTS_CHANNEL && msg.payload) this.wake(msg.payload);
    });
    client.on('error', (e) => {
      this.logger.warn(`LISTEN connection lost (${e.message}); federated runs move on at the sweep`);
      this.listener = null;
      client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.listen().catch(() => undefined), 2_000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${NODE_RESULTS_CHANNEL}`);
    if (this.closed) return void (await client.end());
    this.listener = client;
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
  }

  /** Follows one run now; a wake-up while it is being followed runs one more pass after (results can race). */
  wake(runId: string): void {
    if (this.following.has(runId)) {
      this.following.set(runId, true);
      return;
    }
    this.following.set(runId, false);
    void (async () => {
      try {
        do {
          this.following.set(runId, false);
          const run = await this.db.manager().findOneBy(RunEntity, { id: runId, status: RunStatus.Running, workerId: FEDERATION_WORKER });
          if (run) await this.track(run);
        } while (this.following.get(runId) && !this.closed);
      } catch (e) {
        this.logger.warn(`federated run ${runId}: ${String(e)}; the sweep tries again`);
      } finally {
        this.following.delete(runId);
      }
    })();
  }

  /** Execute step of a federated run (status preparing): one node job per node, then `running` under FEDERATION_WORKER. */
  async dispatch(run: RunEntity, version: BenchmarkVersionEntity, submission: SubmissionEntity, organisationName: string): Promise<void> {
    const federation = phaseFederation(version, run.phase) as PhaseFederationDto;
    const def = version.definition;
    const now = this.clock.now();
    const nodes: RunFederationState['nodes'] = [];
    // An earlier attempt of this run that fanned out and then crashed leaves its jobs open: none of them may still run.
    await this.jobs.cancelJobsOfEarlierAttempts(run.id, run.attempts);
    for (const spec of federation.nodes) {
      const node = await this.nodes.findByName(spec.node);
      if (!node) throw new Error(`benchmark ${def.slug}: node '${spec.node}' is not registered at this hub`);
      if (!spec.contentHash) throw new Error(`benchmark ${def.slug}: node '${spec.node}' cohort '${spec.cohort}' was not pinned at load`);
      const r = def.limits.resources;
      const payload = {
        // What the node's policy decides on (decideJob).
        benchmark: def.slug,
        vendorOrganisation: submission.organisationId,
        resources: { cpus: r.cpus, memoryMb: r.memoryMiB, gpus: r.gpus, timeLimitSeconds: r.timeoutSeconds },
        // What the node runs (NodeEvaluationJob without the lease's id and attempt): typed, so the two sides agree.
        evaluation: {
          benchmark: { slug: def.slug, version: version.version, definition: def },
          cohort: { slug: spec.cohort, contentHash: spec.contentHash },
          split: run.split as SplitName,
          submission: { id: submission.id, kind: submission.kind, sha256: submission.sha256, bytes: Number(submission.sizeBytes), manifest: submission.manifest },
          vendor: { organisationId: submission.organisationId, name: organisationName },
          egress: federation.egress,
          seed: nodeSeed(run.id, spec.node),
        } satisfies Omit<NodeEvaluationJob, 'jobId' | 'attempt'>,
      };
      const { job } = await this.jobs.enqueue({ nodeId: node.id, runId: run.id, kind: EVALUATE_JOB_KIND, payload: JSON.parse(JSON.stringify(payload)) as Record<string, unknown>, idempotencyKey: `${runAttemptKeyPrefix(run.id, run.attempts)}${spec.node}` });
      nodes.push({ node: spec.node, nodeId: node.id, cohort: spec.cohort, jobId: job.id, status: nodeStatus(node, now) === 'online' ? 'queued' : 'waiting_for_node', lastSeen: node.lastSeenAt?.toISOString() ?? null });
    }
    const state: RunFederationState = { attempt: run.attempts, deadline: new Date(now.getTime() + federation.waitForNodeHours * 3600_000).toISOString(), nodes };
    await this.evaluation.transition({ runId: run.id, from: [RunStatus.Preparing], to: RunStatus.Running, attempt: run, patch: { workerId: FEDERATION_WORKER, heartbeatAt: now, federation: state } });
    this.logger.log(`run ${run.id}: fanned out to ${nodes.map((n) => n.node).join(', ')}`);
  }

  /** Follows every federated run in flight; returns how many moved on. */
  async sweep(): Promise<number> {
    // Node jobs of runs that ended (a fault at another node, a cancellation, a crash between the end and the cancel).
    await this.jobs.cancelJobsOfFinishedRuns().catch((e: unknown) => this.logger.warn(`node jobs of finished runs not cancelled yet (${String(e)})`));
    await this.jobs.cancelJobsOfSupersededAttempts().catch((e: unknown) => this.logger.warn(`node jobs of superseded attempts not cancelled yet (${String(e)})`));
    const runs = await this.db.manager().find(RunEntity, { where: { status: RunStatus.Running, workerId: FEDERATION_WORKER } });
    let moved = 0;
    for (const run of runs) {
      if (this.following.has(run.id)) continue;
      try {
        if (await this.track(run)) moved++;
      } catch (e) {
        this.logger.warn(`federated run ${run.id}: ${String(e)}; the next sweep tries again`);
      }
    }
    return moved;
  }

  /** One federated run: node statuses refreshed; `scoring` (and the score job) when all answered; failed on a fault. */
  async track(run: RunEntity): Promise<boolean> {
    const state = run.federation;
    if (!state) return false;
    const now = this.clock.now();
    const jobs = await this.db.manager().find(NodeJobEntity, { where: { id: In(state.nodes.map((n) => n.jobId)) } });
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const next: RunFederationState = { ...state, nodes: [] };
    let retried = false;
    for (const n of state.nodes) {
      const job = byId.get(n.jobId);
      const node = await this.nodes.findById(n.nodeId);
      const online = node ? nodeStatus(node, now) === 'online' : false;
      const lastSeen = node?.lastSeenAt?.toISOString() ?? null;
      if (!job) throw new Error(`node job ${n.jobId} of run ${run.id} is gone`);
      if (job.status === 'done') {
        const result = job.result as unknown as NodeResult;
        // A fault of the node's own (its engine or store away): asked again, under a new key, a bounded number of times.
        if (job.outcome === 'failed' && !isVendorReason(result.reason) && !/^refused by/.test(result.reason ?? '')) {
          const retries = retriesOf(job.idempotencyKey) + 1;
          if (retries <= MAX_NODE_INTERNAL_RETRIES && node) {
            const { job: again } = await this.jobs.enqueue({ nodeId: node.id, runId: run.id, kind: job.kind, payload: job.payload, idempotencyKey: `${baseKey(job.idempotencyKey)}:i${retries}` });
            next.nodes.push({ ...n, jobId: again.id, status: online ? 'queued' : 'waiting_for_node', lastSeen });
            retried = true;
            continue;
          }
        }
        next.nodes.push({ ...n, status: 'done', outcome: job.outcome ?? 'failed', lastSeen });
      } else next.nodes.push({ ...n, status: !online ? 'waiting_for_node' : job.status === 'leased' ? 'running' : 'queued', lastSeen });
    }
    const finished = next.nodes.every((n) => n.status === 'done');
    // A vendor's fault at any node ends the run now: the other nodes' answers cannot change it.
    const vendorFault = next.nodes.find((n) => n.status === 'done' && n.outcome === 'failed' && isVendorReason((byId.get(n.jobId)?.result as unknown as NodeResult | undefined)?.reason));
    if ((finished || vendorFault) && !retried) {
      const bad = vendorFault ?? next.nodes.find((n) => n.outcome !== 'succeeded');
      if (bad) {
        const result = byId.get(bad.jobId)?.result as unknown as NodeResult | undefined;
        const reason = result?.reason ?? 'no reason given';
        const vendor = isVendorReason(reason);
        const detail = bad.outcome === 'refused-by-policy' ? `node ${bad.node} refused the job under its policy: ${reason}` : `at node ${bad.node}: ${vendor ? reason.slice(reason.indexOf(':') + 1).trim() : reason}`;
        // The other nodes' open jobs are cancelled in the same commit: nothing more is handed out for this run.
        await this.endPass(run, RunStatus.Failed, next.nodes, { failureReason: vendor ? (reason.slice(0, reason.indexOf(':')) as FailureReason) : FailureReason.Internal, failureDetail: detail.slice(0, 2000) }, async (tx) => void (await this.jobs.cancelJobsOfEndingRun(run.id, tx)));
        return true;
      }
      // The cases the nodes scored, as they reported them (counts only); a node's malformed count is its fault.
      const counts = next.nodes.map((n) => ({ node: n.node, n: (byId.get(n.jobId)?.result as unknown as NodeResult | undefined)?.output?.aggregates?.['n'] }));
      const malformed = counts.find((c) => !Number.isInteger(c.n) || (c.n as number) < 0 || (c.n as number) > 100_000_000);
      if (malformed) {
        await this.endPass(run, RunStatus.Failed, next.nodes, { failureReason: FailureReason.Internal, failureDetail: `node ${malformed.node} returned a malformed result (case count ${JSON.stringify(malformed.n)}); not the vendor's fault` });
        return true;
      }
      // What each node scored must be the cohort the benchmark pinned, all of its split: the hash the node reports
      // and the count it registered for that hash. A node that scored another version, or fewer cases, is the node's
      // fault (its catalogue changed under the job), never the vendor's.
      const registrations = await this.nodes.cohortsOf(next.nodes.map((n) => n.nodeId));
      for (const n of next.nodes) {
        const job = byId.get(n.jobId) as NodeJobEntity;
        const pinned = (job.payload['evaluation'] as { cohort?: { contentHash?: unknown } } | undefined)?.cohort?.contentHash;
        const reported = (job.result as unknown as NodeResult | undefined)?.output?.aggregates?.['cohortContentHash'];
        const scored = counts.find((c) => c.node === n.node)?.n as number;
        const registered = registrations.find((c) => c.nodeId === n.nodeId && c.contentHash === pinned)?.caseCounts[run.split];
        const problem =
          reported !== pinned
            ? `scored cohort ${JSON.stringify(reported)}, not the pinned ${String(pinned)}`
            : registered === undefined
              ? `has no registered cohort with the pinned hash ${String(pinned)}`
              : scored !== registered
                ? `scored ${scored} ${run.split} case(s), its registered cohort has ${registered}`
                : null;
        if (problem) {
          await this.endPass(run, RunStatus.Failed, next.nodes, { failureReason: FailureReason.Internal, failureDetail: `node ${n.node} ${problem}; not the vendor's fault`.slice(0, 2000) });
          return true;
        }
      }
      // Each summary must hold together (its score lists against its own counts): a node's inconsistent summary is
      // its fault (a bug or a forgery under its key), never the vendor's, and is not pooled into a number.
      const version = await this.db.manager().findOneBy(BenchmarkVersionEntity, { id: run.benchmarkVersionId });
      const federation = version ? taskDefinition(version.definition.task).federation : undefined;
      if (!version || !federation) throw new Error(`run ${run.id}: benchmark version ${run.benchmarkVersionId} or its task's federation is gone`);
      for (const n of next.nodes) {
        const output = (byId.get(n.jobId)?.result as unknown as NodeResult | undefined)?.output;
        const problem = output ? federation.check({ definition: version.definition, summary: summaryFromOutput(output) }) : 'no output';
        if (problem) {
          await this.endPass(run, RunStatus.Failed, next.nodes, { failureReason: FailureReason.Internal, failureDetail: `node ${n.node} returned an inconsistent summary: ${problem}; not pooled, not the vendor's fault`.slice(0, 2000) });
          return true;
        }
      }
      const cases = counts.reduce((acc, c) => acc + (c.n as number), 0);
      const scoring = await this.endPass(run, RunStatus.Scoring, next.nodes, { heartbeatAt: now, casesTotal: cases, casesDone: cases });
      if (!scoring) return false;
      await this.evaluation.enqueueScore(run.id).catch((e: unknown) => this.logger.warn(`run ${run.id}: score job not queued yet (${String(e)}); the sweep will`));
      return true;
    }
    // Still waiting: the run's row says where each node stands; the heartbeat says the hub is following it.
    // Only the nodes' part of the state: the deadline is the evaluator's (FederationDecisions), and an extension
    // committed since this pass read the run must not be written back over.
    await this.db.manager().query(`UPDATE runs SET heartbeat_at = $2, federation = jsonb_set(federation, '{nodes}', $3::jsonb) WHERE id = $1 AND status = $4 AND federation IS NOT NULL`, [
      run.id,
      now,
      JSON.stringify(next.nodes),
      RunStatus.Running,
    ]);
    return false;
  }

  /**
   * Moves a followed run on (running → failed or scoring) with this pass's node statuses merged into the state as
   * locked: an evaluator's extension or decision committed since the pass read the run is kept, never written over.
   */
  private endPass(run: RunEntity, to: RunStatus, nodes: RunFederationState['nodes'], patch: Partial<RunEntity>, work?: (tx: EntityManager) => Promise<void>): Promise<RunEntity | null> {
    const full: Partial<RunEntity> = { ...patch };
    return this.evaluation.transition({ runId: run.id, from: [RunStatus.Running], to, patch: full }, async (tx, locked) => {
      // EvaluationService.transition reads `patch` after `work` has run.
      full.federation = { ...((locked.federation ?? run.federation) as RunFederationState), nodes };
      if (work) await work(tx);
    });
  }

  /** The score step of a federated run: every node's summary, pooled by the task. */
  async pooled(run: RunEntity, version: BenchmarkVersionEntity): Promise<FederatedScore & { timings: Record<string, Record<string, number>> }> {
    const state = run.federation;
    if (!state) throw new Error(`run ${run.id} has no federation state`);
    const task = taskDefinition(version.definition.task);
    if (!task.federation) throw new Error(`task ${version.definition.task} has no federated pooling`);
    const jobs = await this.db.manager().find(NodeJobEntity, { where: { id: In(state.nodes.map((n) => n.jobId)) } });
    const summaries: NodeSummaryFrom<unknown>[] = state.nodes.map((n) => {
      const job = jobs.find((j) => j.id === n.jobId);
      const result = job?.result as unknown as NodeResult | undefined;
      if (!job || job.outcome !== 'succeeded' || !result?.output?.aggregates) throw new Error(`run ${run.id}: node ${n.node} has no result to pool`);
      return { node: n.node, summary: summaryFromOutput(result.output) };
    });
    return { ...guardSuppressedSites(task.federation.pool({ definition: version.definition, nodes: summaries })), timings: Object.fromEntries(state.nodes.map((n) => [n.node, timingsOf(jobs.find((j) => j.id === n.jobId))])) };
  }
}

/** The task summary as the node built it: aggregates, plus the class-conditional score lists where they left the node. */
export function summaryFromOutput(output: NonNullable<NodeResult['output']>): unknown {
  const d = output.scoreDistributions;
  // What left the node is bounded by both its policy (the filter's level) and what the task summarised under.
  const egress = lowerEgress(...[output.egress, output.aggregates?.['egress']].filter((l): l is EgressLevel => (EGRESS_LEVELS as readonly unknown[]).includes(l)));
  return { ...(output.aggregates ?? {}), egress, ...(d && egress !== 'aggregates' ? { distribution: { positives: d.positive, negatives: d.negative } } : {}) };
}

/** A node's own step timings as it reported them (numbers only), for the run's details. */
function timingsOf(job: NodeJobEntity | undefined): Record<string, number> {
  const t = ((job?.result as unknown as NodeResult | undefined)?.output?.aggregates?.['timings'] ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(t).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
}

const isVendorReason = (reason: string | undefined): boolean => typeof reason === 'string' && reason.includes(':') && VENDOR_REASONS.has(reason.slice(0, reason.indexOf(':')));
const baseKey = (key: string): string => key.replace(/:i\d+$/, '');
const retriesOf = (key: string): number => Number(/:i(\d+)$/.exec(key)?.[1] ?? 0);
