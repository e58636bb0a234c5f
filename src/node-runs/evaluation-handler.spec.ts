import type { LeasedJob } from '../federation/node-agent';
import type { NodePolicy } from '../federation/node-policy';
import { FailureReason } from '../runs/evaluation.entity';
import { evaluationHandler } from './evaluation-handler';
import type { NodeEvaluator } from './node-evaluator';

const policy: NodePolicy = { acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'aggregates' };
const job: LeasedJob = {
  id: 'job-1',
  kind: 'evaluate',
  runId: 'run-1',
  attempt: 1,
  leaseToken: 'token-token-token-token',
  leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
  payload: {
    evaluation: {
      benchmark: { slug: 'b', version: 1, definition: {} },
      cohort: { slug: 'c', contentHash: 'f'.repeat(64) },
      split: 'test',
      submission: { id: 's', kind: 'onnx', sha256: 'a'.repeat(64), bytes: 1, manifest: {} },
      vendor: { organisationId: 'o', name: 'V' },
      egress: 'aggregates',
      seed: 1,
    },
  },
};

describe('evaluationHandler', () => {
  it("sends a vendor fault's reason code and a fixed sentence, never the container's output or a case id", async () => {
    const evaluator = { evaluate: async () => ({ status: 'failed', reason: FailureReason.ExitNonzero, detail: 'last log line: CASE-0042 label=1 secret' }) } as unknown as NodeEvaluator;
    const out = await evaluationHandler(evaluator, async () => Buffer.alloc(0)).handle(job, { policy, signal: new AbortController().signal });
    expect(out).toEqual({ outcome: 'failed', reason: "exit_nonzero: the algorithm exited with an error (details in the node operator's log)" });
    expect(JSON.stringify(out)).not.toMatch(/CASE-0042|secret|label/);
  });

  it("files the node's intake refusing what the hub admitted as the node's (never the vendor's, not retried): its code only leaves", async () => {
    const evaluator = { evaluate: async () => ({ status: 'incompatible', code: 'wrong_architecture', detail: "the node's intake refused the submission the hub admitted: wrong_architecture: image is amd64, /var/lib/node/x is arm64" }) } as unknown as NodeEvaluator;
    const out = await evaluationHandler(evaluator, async () => Buffer.alloc(0)).handle(job, { policy, signal: new AbortController().signal });
    expect(out).toEqual({ outcome: 'failed', reason: "refused by this node's intake, though the hub admitted it: wrong_architecture (this node's environment differs from the hub's; not the vendor's fault; details in the node operator's log)" });
    expect(JSON.stringify(out)).not.toMatch(/\/var\/lib|arm64/);
    // The hub's rule (federated-runs): a reason is the vendor's only when its code is a vendor code; "refused by …" is neither retried nor counted.
    const reason = (out as { reason: string }).reason;
    expect(Object.values(FailureReason)).not.toContain(reason.slice(0, reason.indexOf(':')));
    expect(reason).toMatch(/^refused by/);
  });

  it('refuses a payload without the fields the node relies on', async () => {
    const evaluator = { evaluate: jest.fn() } as unknown as NodeEvaluator;
    await expect(evaluationHandler(evaluator, async () => Buffer.alloc(0)).handle({ ...job, payload: { evaluation: { benchmark: { slug: 'b' } } } }, { policy, signal: new AbortController().signal })).rejects.toThrow(/incomplete/);
    expect(evaluator.evaluate).not.toHaveBeenCalled();
  });
});
