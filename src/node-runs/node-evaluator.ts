import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { AssayMetrics } from '../observability/metrics';
import { observeRunFinished } from '../runs/run-metrics';
import { RunStatus } from '../runs/evaluation.entity';
import { createHmac, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import type { BenchmarkDefinition } from '../benchmarks/benchmark-definition';
import { sha256Hex } from '../common/hashing';
import { cohortTruthSource } from '../cohorts/cohort-version';
import type { SplitName } from '../cohorts/cohorts.entity';
import { OnnxRunnerService } from '../sandbox/onnx-runner.service';
import { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { joinRunLogs } from '../sandbox/capped-log';
import { StorageService } from '../storage/storage.service';
import type { SubmissionEntity, SubmissionKind, SubmissionManifest } from '../submissions/submissions.entity';
import { decideJob, type EgressLevel, type JobRequirements, lowerEgress, type NodePolicy, runTimeProblem } from '../federation/node-policy';
import { taskDefinition } from '../tasks/registry';
import { executorFor } from '../runs/batch-executor';
import { checkDeterminism } from '../runs/determinism-check';
import { FailureReason, type RunDeterminism } from '../runs/evaluation.entity';
import { downloadCaseFiles, type RunCase, runBatches } from '../runs/run-batches';
import { RUN_LOG_BYTES, sandboxLimitsFor } from '../runs/sandbox-faults';
import { cohortFileOf } from '../cohorts/cohort-version';
import { NodeCohortCatalogue } from './node-cohorts';

/** An evaluation the hub asks a node to run on its own cohort (the payload of a node job of kind 'evaluate'). */
export interface NodeEvaluationJob {
  readonly jobId: string;
  readonly attempt: number;
  readonly benchmark: { readonly slug: string; readonly version: number; readonly definition: BenchmarkDefinition };
  /** The cohort as this node registered it (slug and content hash). */
  readonly cohort: { readonly slug: string; readonly contentHash: string };
  readonly split: SplitName;
  readonly submission: { readonly id: string; readonly kind: SubmissionKind; readonly sha256: string; readonly bytes: number; readonly manifest: SubmissionManifest };
  readonly vendor: { readonly organisationId: string; readonly name: string };
  /** The most the hub asks to leave the node; the node's policy may allow less, never more. */
  readonly egress: EgressLevel;
  /** This node's bootstrap seed for the run (distinct per node: the within-node resampling must be independent). */
  readonly seed: number;
}

export type NodeEvaluationResult =
  | { readonly status: 'succeeded'; readonly egress: EgressLevel; readonly n: number; readonly summary: unknown; readonly metricCodeVersion: string; readonly cohortContentHash: string; readonly determinism: Pick<RunDeterminism, 'checked' | 'cases' | 'identical' | 'summary'> | null; readonly timings: Record<string, number> }
  /** The vendor's fault (timeout, out of memory, bad output, rejected at intake): counted against the vendor. */
  | { readonly status: 'failed'; readonly reason: FailureReason; readonly detail: string }
  /** Outside this node's policy: never run. */
  | { readonly status: 'refused-by-policy'; readonly detail: string }
  /**
   * The node's intake refused what the hub's intake admitted (same code, same bytes by sha256): the node's
   * environment differs (its architecture, its image size limit, its runtime), never the vendor's fault. `code` is
   * the intake's code (e.g. wrong_architecture), `detail` stays in the node's log.
   */
  | { readonly status: 'incompatible'; readonly code: string; readonly detail: string };

/** Downloads a vendor's artefact from the hub by content hash under the job's grant (the node agent supplies it). */
export type ArtifactFetcher = (job: NodeEvaluationJob) => Promise<Buffer>;


/**
 * A federated node's evaluation (issue 11): the hub's job run here against this node's own cohort, with the same
 * intake checks, sandbox, batch loop, determinism check and task scorer as the facility's worker. Only the task's
 * node summary (bounded by the egress level the node's policy allows) goes back; predictions, per-case results,
 * truth and the vendor's logs stay on the node (logs in its own object store, for its operator). Each attempt starts
 * from nothing in a fresh work dir, so a job re-leased after a crash is simply run again.
 */
@Injectable()
export class NodeEvaluator {
  private readonly logger = new Logger('NodeEvaluator');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly storage: StorageService,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly runner: OnnxRunnerService,
    private readonly catalogue: NodeCohortCatalogue,
    @Optional() private readonly metrics?: AssayMetrics,
  ) {}

  /** What the job asks of the node, in the terms its policy decides on (decideJob). */
  static requirements(job: NodeEvaluationJob): JobRequirements {
    const r = job.benchmark.definition.limits.resources;
    return { benchmark: job.benchmark.slug, vendorOrganisation: job.vendor.organisationId, resources: { cpus: r.cpus, memoryMb: r.memoryMiB, gpus: r.gpus, timeLimitSeconds: r.timeoutSeconds } };
  }

  /**
   * `seedSecret` (the node's pseudonym secret): the bootstrap draws come from the 256-bit key HMAC(secret, job, hub's
   * seed) through AES-CTR, so the hub, which knows its own seed and n, cannot regenerate or search the resampling
   * weights (see RatioPart).
   * `signal` abandons the job (cancelled at the hub, or its lease lost): no further step or batch starts, a running
   * container is killed, and this throws; the caller sends nothing. The policy's maxRunSeconds stops the run the
   * same way on the wall clock, answered as refused by policy (never the vendor's fault).
   */
  async evaluate(job: NodeEvaluationJob, policy: NodePolicy, fetchArtifact: ArtifactFetcher, opts: { seedSecret?: Buffer; signal?: AbortSignal } = {}): Promise<NodeEvaluationResult> {
    // The node's own metrics (ASSAY_METRICS_PORT on the node): the same step histogram and failure counter as the
    // facility's worker, labelled by step and reason code only.
    const limit = policy.resourceLimits.maxRunSeconds;
    const clock = limit !== undefined ? AbortSignal.timeout(limit * 1000) : undefined;
    const signal = clock && opts.signal ? AbortSignal.any([opts.signal, clock]) : (clock ?? opts.signal);
    try {
      const result = await this.evaluateOnce(job, policy, fetchArtifact, { ...opts, ...(signal ? { signal } : {}) });
      if (result.status === 'succeeded') observeRunFinished(this.metrics, { status: RunStatus.Succeeded, failureReason: null, timings: result.timings });
      else if (result.status === 'failed') observeRunFinished(this.metrics, { status: RunStatus.Failed, failureReason: result.reason, timings: {} });
      return result;
    } catch (e) {
      if (clock?.aborted && !opts.signal?.aborted) return { status: 'refused-by-policy', detail: `the run went past this node's maxRunSeconds ${limit} and was stopped` };
      // An abandoned job (opts.signal) is not a failure of anything.
      if (!opts.signal?.aborted) observeRunFinished(this.metrics, { status: RunStatus.Failed, failureReason: FailureReason.Internal, timings: {} });
      throw e;
    }
  }

  private async evaluateOnce(job: NodeEvaluationJob, policy: NodePolicy, fetchArtifact: ArtifactFetcher, opts: { seedSecret?: Buffer; signal?: AbortSignal }): Promise<NodeEvaluationResult> {
    const signal = opts.signal;
    // The agent decides before handing the job over; decided again here, so no caller can run what the policy refuses.
    const decision = decideJob(policy, NodeEvaluator.requirements(job));
    if (!decision.accept) return { status: 'refused-by-policy', detail: decision.reason };
    const cohort = await this.catalogue.find(job.cohort.slug, job.cohort.contentHash);
    // The hub names a version this node registered; one it does not hold is Assay's fault, not the vendor's.
    if (!cohort) throw new Error(`this node holds no cohort ${job.cohort.slug} with content hash ${job.cohort.contentHash}`);
    const def = job.benchmark.definition;
    const task = taskDefinition(def.task);
    if (!task.federation) throw new Error(`task ${def.task} has no federated pooling`);
    const egress = lowerEgress(job.egress, policy.egress);
    const cases = (await this.storage.getBuffer('inputs', cohortFileOf(cohort, 'inputs', `${job.split}/cases.jsonl`).key))
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as RunCase);
    // The policy's maxRunSeconds is for the whole run: refused before anything is fetched or started when the
    // benchmark's limits could exceed it on this many cases, and enforced on the wall clock below in any case.
    const tooLong = runTimeProblem(policy, { timeLimitSeconds: def.limits.resources.timeoutSeconds, batchSize: def.limits.resources.batchSize, cases: cases.length, determinismRerun: job.split !== 'sample' && cases.length > 0 });
    if (tooLong) return { status: 'refused-by-policy', detail: tooLong };
    const t0 = Date.now();

    // The artefact by content hash: verified before anything uses it, kept in this node's store under its hash.
    signal?.throwIfAborted();
    const bytes = await fetchArtifact(job);
    const digest = sha256Hex(bytes);
    if (digest !== job.submission.sha256 || bytes.length !== job.submission.bytes) throw new Error(`artefact of submission ${job.submission.id} does not match its sha256/size (got ${digest}, ${bytes.length} bytes)`);
    const objectKey = `submissions/node-artifacts/${digest}`;
    if (!(await this.storage.exists('submissions', objectKey))) await this.storage.putBuffer('submissions', objectKey, bytes);
    const fetchMs = Date.now() - t0;

    const runId = `node-${job.jobId}`;
    const attemptTag = `${runId}-a${job.attempt}`;
    await this.sandbox.removeWorkDirsNamed(`${runId}-`);
    const workDir = await this.sandbox.createWorkDir(attemptTag);
    const storedKeys: string[] = [];
    try {
      const submission = { id: job.submission.id, kind: job.submission.kind, objectKey, manifest: job.submission.manifest, checkReport: {} } as unknown as SubmissionEntity;
      const limits = sandboxLimitsFor({ definition: def });
      const deps = { runner: this.runner, sandbox: this.sandbox, storage: this.storage, config: this.config };
      // The node's intake: the same checks as the hub's (static ONNX fit and load; image tarball intake and load).
      const checkDir = join(workDir, 'check');
      await fs.mkdir(checkDir, { recursive: true, mode: 0o700 });
      const tCheck = Date.now();
      const verdict = await executorFor(submission, deps).check({ workDir: checkDir, definition: def, limits, label: runId, ...(signal ? { signal } : {}) });
      const checkMs = Date.now() - tCheck;
      // The hub admitted this submission (a job is only made for an accepted one) with the same intake code on the same
      // bytes: a verdict on its contents that differs here is this node's environment (its architecture, its image
      // size limit, its engine) or a version skew, not the vendor's artefact (filed at the hub as internal, never
      // counted). Running out of time or memory while loading is the algorithm near its limits: the vendor's.
      if (!verdict.ok && verdict.sandboxFault) return { status: 'failed', reason: verdict.sandboxFault, detail: `the node's intake check: ${verdict.reason ?? 'no reason given'}` };
      if (!verdict.ok) return { status: 'incompatible', code: /^([a-z_]{1,40}):/.exec(verdict.reason ?? '')?.[1] ?? (verdict.rejectedImage ? 'image_refused' : 'model_refused'), detail: `the node's intake refused the submission the hub admitted: ${verdict.reason ?? 'no reason given'}` };
      const executor = executorFor(verdict.manifest ? ({ ...submission, manifest: verdict.manifest } as SubmissionEntity) : submission, deps);
      await executor.prepare(workDir);
      const work = { executor, task, definition: def, runId, workDir, cases, limits, fetchCaseFiles: (batch: readonly RunCase[], dir: string) => downloadCaseFiles(this.storage, cohort, job.split, batch, dir), ...(signal ? { signal } : {}) };
      const outcome = await runBatches({
        ...work,
        storeFile: async (caseId, name, body) => {
          const key = `runs/node/${attemptTag}/${caseId}/${name}`;
          await this.storage.putBuffer('artifacts', key, body);
          storedKeys.push(key);
          return { key, sha256: sha256Hex(body), bytes: body.length };
        },
      });
      // The vendor's logs stay here, for the node's operator; nothing of them goes to the hub.
      await this.storage.putBuffer('artifacts', `runs/node-logs/${attemptTag}.log`, joinRunLogs(outcome.logs, RUN_LOG_BYTES), 'text/plain');
      if (outcome.fault) return { status: 'failed', reason: outcome.fault.reason, detail: outcome.fault.detail };
      let determinism: RunDeterminism | null = null;
      let determinismMs = 0;
      if (job.split !== 'sample') {
        const checked = await checkDeterminism({ ...work, first: outcome.predictions });
        determinism = checked.determinism;
        determinismMs = checked.ms;
      }

      signal?.throwIfAborted();
      const tScore = Date.now();
      const truth = await task.readTruth(cohortTruthSource(this.storage, cohort, job.split));
      const predictions = new Map(outcome.predictions.map((p) => [p.caseId, p.prediction]));
      const metadata = new Map(cohort.cases.filter((c) => c.split === job.split).map((c) => [c.caseId, c.metadata]));
      const unknown = outcome.predictions.filter((p) => !metadata.has(p.caseId));
      if (unknown.length > 0) return { status: 'failed', reason: FailureReason.InvalidOutput, detail: `${unknown.length} prediction(s) name cases outside this split` };
      const score = await task.score({
        truth,
        predictions,
        definition: def,
        metadata,
        readArtifact: async (caseId, name) => {
          const file = (predictions.get(caseId)?.['files'] as Record<string, { key: string; sha256: string }> | undefined)?.[name];
          if (!file) throw new Error(`node job ${job.jobId}: case ${caseId} has no stored ${name}`);
          const body = await this.storage.getBuffer('artifacts', file.key);
          if (sha256Hex(body) !== file.sha256) throw new Error(`node job ${job.jobId}: stored ${name} of case ${caseId} does not match its sha256`);
          return body;
        },
        threads: this.config.worker.scoringThreads,
      });
      if ('missing' in score) return { status: 'failed', reason: FailureReason.MissingPredictions, detail: `${score.missing.length} case(s) have no prediction` };
      // The draws behind the replicate sums that leave come from a 256-bit key the hub cannot search: HMAC(the node's
      // secret, job, hub's seed), reproducible by the node's operator; a fresh random key where no secret is set.
      const seedKey = opts.seedSecret ? createHmac('sha256', opts.seedSecret).update(`assay-node-bootstrap-key\u0000${job.jobId}\u0000${job.seed}`).digest() : randomBytes(32);
      const summary = task.federation.summarize({ score, definition: def, egress, seed: job.seed, seedKey });
      this.logger.log(`node job ${job.jobId}: ${def.slug} on ${cohort.slug} (${score.n} cases) scored; ${egress} leaves`);
      return {
        status: 'succeeded',
        egress,
        n: score.n,
        summary,
        metricCodeVersion: score.metricCodeVersion,
        cohortContentHash: cohort.contentHash,
        determinism: determinism ? { checked: determinism.checked, cases: determinism.cases, identical: determinism.identical, summary: determinism.summary } : null,
        timings: { fetchArtifactMs: fetchMs, checkMs, sandboxTotalMs: outcome.timings.sandboxTotalMs, determinismMs, scoringMs: Date.now() - tScore, totalMs: Date.now() - t0 },
      };
    } finally {
      await this.sandbox.removeWorkDir(workDir);
      // Predictions' files served only this scoring: removed (best effort; the logs are kept).
      await this.storage.removeMany('artifacts', storedKeys).catch((e: unknown) => this.logger.warn(`node job ${job.jobId}: artefacts not removed (${String(e)})`));
    }
  }
}
