import { Logger } from '@nestjs/common';
import type { LeasedJob, NodeJobHandler, NodeJobOutput } from '../federation/node-agent';
import { FailureReason } from '../runs/evaluation.entity';
import type { NodeKeys } from '../federation/node-keys';
import type { EvaluationOutput } from '../federation/node-policy';
import { EVALUATE_JOB_KIND, signRequest } from '../federation/node-protocol';
import { type NodeEvaluationJob, type NodeEvaluationResult, NodeEvaluator } from './node-evaluator';

const logger = new Logger('NodeEvaluation');

/** What a vendor's fault at a node says at the hub: fixed text per reason, never the container's output. */
const FAULT_TEXT: Partial<Record<FailureReason, string>> = {
  [FailureReason.Timeout]: 'the algorithm ran past its time limit',
  [FailureReason.OutOfMemory]: 'the algorithm ran out of memory',
  [FailureReason.ExitNonzero]: 'the algorithm exited with an error',
  [FailureReason.InvalidOutput]: 'the algorithm wrote output that does not fit the interface',
  [FailureReason.MissingPredictions]: 'the algorithm gave no prediction for some cases',
  [FailureReason.RejectedImage]: "the node's intake refused the submission",
};


/** The most bytes a node downloads for one artefact (an image tarball's limit at the hub is lower). */
const MAX_ARTIFACT_BYTES = 8 * 1024 * 1024 * 1024;

/**
 * Downloads a leased job's artefact from the hub over the node's own signed, outbound request (the lease is the
 * grant: POST /api/node/jobs/:id/artifact). The caller verifies the bytes against the sha256 the job names.
 */
export function hubArtifactFetcher(hub: { hubUrl: string; nodeId: string; keys: NodeKeys }): (job: LeasedJob) => Promise<Buffer> {
  return async (job) => {
    const path = `/api/node/jobs/${job.id}/artifact`;
    const body = Buffer.from(JSON.stringify({ attempt: job.attempt, leaseToken: job.leaseToken }), 'utf8');
    const headers = signRequest(hub.keys.privateKey, { method: 'POST', pathWithQuery: path, nodeId: hub.nodeId, body });
    const res = await fetch(`${hub.hubUrl}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    if (res.status !== 200) throw new Error(`artefact of job ${job.id}: the hub answered ${res.status} ${(await res.text()).slice(0, 200)}`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_ARTIFACT_BYTES) throw new Error(`artefact of job ${job.id} is ${declared} bytes, over ${MAX_ARTIFACT_BYTES}`);
    return Buffer.from(await res.arrayBuffer());
  };
}

/** The payload's evaluation as the hub wrote it (FederatedRuns.dispatch), checked for the fields the node relies on. */
function evaluationOf(job: LeasedJob): NodeEvaluationJob {
  const e = job.payload['evaluation'] as Omit<NodeEvaluationJob, 'jobId' | 'attempt'> | undefined;
  const ok =
    e &&
    typeof e.benchmark?.slug === 'string' &&
    typeof e.benchmark.definition === 'object' &&
    typeof e.cohort?.slug === 'string' &&
    typeof e.cohort.contentHash === 'string' &&
    (e.split === 'sample' || e.split === 'test') &&
    typeof e.submission?.sha256 === 'string' &&
    typeof e.submission.bytes === 'number' &&
    typeof e.vendor?.organisationId === 'string' &&
    typeof e.egress === 'string' &&
    Number.isInteger(e.seed);
  if (!ok) throw new Error(`node job ${job.id}: the evaluation payload is incomplete`);
  return { ...e, jobId: job.id, attempt: job.attempt };
}

/**
 * A succeeded evaluation as the agent's egress filter expects it: the task's summary as aggregates, its
 * class-conditional score lists (if any) apart, so that the filter can drop them below 'score-distributions'.
 */
export function evaluationOutputOf(r: Extract<NodeEvaluationResult, { status: 'succeeded' }>): EvaluationOutput {
  const { distribution, ...summary } = r.summary as Record<string, unknown> & { distribution?: { positives: number[]; negatives: number[] } };
  return {
    aggregates: {
      ...summary,
      n: r.n,
      metricCodeVersion: r.metricCodeVersion.slice(0, 64),
      cohortContentHash: r.cohortContentHash,
      ...(r.determinism ? { determinism: { checked: r.determinism.checked, cases: r.determinism.cases, identical: r.determinism.identical } } : {}),
      timings: r.timings,
    },
    ...(distribution ? { scoreDistributions: { positive: distribution.positives, negative: distribution.negatives } } : {}),
  };
}

/**
 * The node's handler for evaluation jobs: runs the job through NodeEvaluator and shapes its result as the agent's
 * egress filter expects (aggregates; the class-conditional score lists apart), which then drops anything the node's
 * egress level does not allow before signing. A vendor's fault leaves as `<reason>: <detail>` so the hub files it
 * against the vendor; an error of the node's own is thrown, and the agent reports it as internal.
 */
export function evaluationHandler(evaluator: NodeEvaluator, fetchArtifact: (job: LeasedJob) => Promise<Buffer>, seedSecret?: Buffer): NodeJobHandler {
  return {
    kind: EVALUATE_JOB_KIND,
    async handle(job, { policy, signal }): Promise<NodeJobOutput> {
      const evaluation = evaluationOf(job);
      const r = await evaluator.evaluate(evaluation, policy, () => fetchArtifact(job), { ...(seedSecret ? { seedSecret } : {}), signal });
      if (r.status === 'refused-by-policy') return { outcome: 'failed', reason: `refused by this node's policy: ${r.detail}` };
      if (r.status === 'incompatible') {
        logger.warn(`job ${job.id}: ${r.detail}`);
        // "refused by …": the hub neither retries it (the node would refuse again) nor counts it against the vendor.
        return { outcome: 'failed', reason: `refused by this node's intake, though the hub admitted it: ${r.code} (this node's environment differs from the hub's; not the vendor's fault; details in the node operator's log)` };
      }
      if (r.status === 'failed') {
        // The detail can quote the vendor's container output or name a case: it stays in this node's log; only the
        // reason code and a fixed sentence leave the node.
        logger.warn(`job ${job.id}: ${r.reason}: ${r.detail}`);
        return { outcome: 'failed', reason: `${r.reason}: ${FAULT_TEXT[r.reason] ?? 'the algorithm failed at the node'} (details in the node operator's log)` };
      }
      const output = evaluationOutputOf(r);
      return { outcome: 'succeeded', output };
    },
  };
}
