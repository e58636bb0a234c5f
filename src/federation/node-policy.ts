import { createHmac } from 'node:crypto';

/**
 * A hospital's local policy, decided and enforced on the node (pure functions; the agent reads the file named by
 * ASSAY_NODE_POLICY_FILE). The hub only shows what the node declares in its heartbeats: it cannot widen it.
 */
export const EGRESS_LEVELS = ['aggregates', 'score-distributions', 'per-case-pseudonymised'] as const;
export type EgressLevel = (typeof EGRESS_LEVELS)[number];

/** The least of some egress levels (what may leave when several bounds apply); 'aggregates' when none is known. */
export function lowerEgress(...levels: readonly EgressLevel[]): EgressLevel {
  return [...levels].sort((a, b) => EGRESS_LEVELS.indexOf(a) - EGRESS_LEVELS.indexOf(b))[0] ?? 'aggregates';
}

export interface ResourceLimits {
  maxCpus?: number;
  maxMemoryMb?: number;
  maxGpus?: number;
  maxRunSeconds?: number;
}

export interface NodePolicy {
  /** Benchmark slugs this node runs; ['*']: any. */
  acceptedBenchmarks: string[];
  /** Vendor organisation ids (or names) whose algorithms may run here; ['*']: any. */
  acceptedVendorOrganisations: string[];
  resourceLimits: ResourceLimits;
  /** What may leave the hospital: the most a result may carry (see filterEgress). */
  egress: EgressLevel;
}

const LIMIT_KEYS = ['maxCpus', 'maxMemoryMb', 'maxGpus', 'maxRunSeconds'] as const;

/** Reads a policy document; throws with every problem named (a node with a broken policy must not start). */
export function parsePolicy(text: string): NodePolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`node policy: not JSON (${(error as Error).message})`);
  }
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('node policy: must be a JSON object');
  const d = doc as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!['acceptedBenchmarks', 'acceptedVendorOrganisations', 'resourceLimits', 'egress'].includes(key)) problems.push(`${key}: unknown field`);
  const list = (name: string): string[] => {
    const v = d[name];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 200)) {
      problems.push(`${name}: must be a list of non-empty strings ("*" accepts any)`);
      return [];
    }
    return v as string[];
  };
  const acceptedBenchmarks = list('acceptedBenchmarks');
  const acceptedVendorOrganisations = list('acceptedVendorOrganisations');
  const limits = d.resourceLimits ?? {};
  const resourceLimits: ResourceLimits = {};
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) problems.push('resourceLimits: must be an object');
  else {
    for (const [k, v] of Object.entries(limits)) {
      if (!(LIMIT_KEYS as readonly string[]).includes(k)) problems.push(`resourceLimits.${k}: unknown limit; known: ${LIMIT_KEYS.join(', ')}`);
      else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) problems.push(`resourceLimits.${k}: must be a whole number >= 0`);
      else resourceLimits[k as (typeof LIMIT_KEYS)[number]] = v;
    }
  }
  if (!(EGRESS_LEVELS as readonly unknown[]).includes(d.egress)) problems.push(`egress: must be one of ${EGRESS_LEVELS.join(', ')}`);
  if (problems.length > 0) throw new Error(`node policy: ${problems.join('; ')}`);
  return { acceptedBenchmarks, acceptedVendorOrganisations, resourceLimits, egress: d.egress as EgressLevel };
}

/** What a job asks of the node, as its payload states it (run fan-out writes these fields). */
export interface JobRequirements {
  benchmark?: unknown;
  vendorOrganisation?: unknown;
  resources?: { cpus?: unknown; memoryMb?: unknown; gpus?: unknown; timeLimitSeconds?: unknown };
}

export type PolicyDecision = { accept: true } | { accept: false; reason: string };

const accepts = (list: string[], value: unknown): boolean => list.includes('*') || (typeof value === 'string' && list.includes(value));

/**
 * Whether this node runs the job. Fails closed: a job that does not say which benchmark or vendor it is for runs only
 * where the policy accepts any, and a resource it asks for beyond a limit (or does not state while a limit is set) is
 * refused.
 */
export function decideJob(policy: NodePolicy, payload: JobRequirements): PolicyDecision {
  if (!accepts(policy.acceptedBenchmarks, payload.benchmark)) return { accept: false, reason: `benchmark '${String(payload.benchmark ?? 'unstated')}' is not accepted by this node's policy` };
  if (!accepts(policy.acceptedVendorOrganisations, payload.vendorOrganisation)) return { accept: false, reason: `vendor organisation '${String(payload.vendorOrganisation ?? 'unstated')}' is not accepted by this node's policy` };
  const asked = payload.resources ?? {};
  const pairs: [keyof ResourceLimits, unknown, string][] = [
    ['maxCpus', asked.cpus, 'cpus'],
    ['maxMemoryMb', asked.memoryMb, 'memoryMb'],
    ['maxGpus', asked.gpus, 'gpus'],
    ['maxRunSeconds', asked.timeLimitSeconds, 'timeLimitSeconds'],
  ];
  for (const [limitKey, value, name] of pairs) {
    const limit = policy.resourceLimits[limitKey];
    if (limit === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      // No GPU asked is no GPU used; every other resource must be stated to be checked.
      if (name === 'gpus' && value === undefined) continue;
      return { accept: false, reason: `the job does not state resources.${name}, which this node's policy limits (${limitKey} ${limit})` };
    }
    if (value > limit) return { accept: false, reason: `resources.${name} ${value} exceeds this node's ${limitKey} ${limit}` };
  }
  return { accept: true };
}

/**
 * maxRunSeconds bounds the whole run, not one container: the node's sandbox starts one container for its intake
 * check, one per batch, and one for the determinism re-run (held-out splits), each allowed the benchmark's timeout.
 * Decided once the node knows how many cases the split holds; null when within the limit (or none is set).
 */
export function runTimeProblem(policy: NodePolicy, run: { timeLimitSeconds: number; batchSize: number; cases: number; determinismRerun: boolean }): string | null {
  const limit = policy.resourceLimits.maxRunSeconds;
  if (limit === undefined) return null;
  const containers = 1 + Math.ceil(run.cases / Math.max(1, run.batchSize)) + (run.determinismRerun ? 1 : 0);
  const worst = containers * run.timeLimitSeconds;
  return worst > limit ? `the run may take up to ${worst} s (${containers} sandbox containers of at most ${run.timeLimitSeconds} s: intake check, ${Math.ceil(run.cases / Math.max(1, run.batchSize))} batch(es) of ${run.batchSize} over ${run.cases} cases${run.determinismRerun ? ', determinism re-run' : ''}), beyond this node's maxRunSeconds ${limit}` : null;
}

/**
 * What an evaluation handler hands back before it leaves the node. Only these fields can ever leave, each only at the
 * egress level that allows it; anything else a handler adds (logs, case metadata, file paths) is dropped.
 */
export interface EvaluationOutput {
  /** Sums, counts and estimates that pool at the hub: always allowed. JSON numbers, strings, and nested objects of them. */
  aggregates?: Record<string, unknown>;
  /** Label-conditional score lists (AUROC/DeLong pooling): scores only, no case ids. */
  scoreDistributions?: { positive?: unknown[]; negative?: unknown[] };
  /** Per-case metric rows: leave only pseudonymised, with numeric metrics only. */
  perCase?: { caseId?: unknown; metrics?: Record<string, unknown> }[];
  [other: string]: unknown;
}

export interface FilteredOutput {
  egress: EgressLevel;
  aggregates: Record<string, unknown>;
  scoreDistributions?: { positive: number[]; negative: number[] };
  perCase?: { pseudonym: string; metrics: Record<string, number> }[];
}

/** Case ids must not leak through the aggregates either: only plain numbers, strings up to 64 chars, booleans, null, nested. */
function cleanAggregate(value: unknown, depth: number): unknown {
  if (depth > 6) return undefined;
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return value.length <= 64 ? value : undefined;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const c = cleanAggregate(v, depth + 1);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return undefined;
}

const scores = (list: unknown[] | undefined): number[] =>
  (list ?? []).filter((s): s is number => typeof s === 'number' && Number.isFinite(s)).sort((a, b) => a - b);

/** HMAC-SHA256 of the case id under a secret that never leaves the node: stable across runs on this node, not reversible at the hub. */
export const pseudonymOf = (secret: Buffer, caseId: string): string => `p-${createHmac('sha256', secret).update(caseId, 'utf8').digest('hex').slice(0, 32)}`;

/**
 * Filters a result to what the node's egress level allows; applied before signing, so the hub receives (and the
 * signature covers) nothing more:
 * - aggregates: the aggregates only;
 * - score-distributions: plus the two label-conditional score lists, sorted (their order would otherwise follow case order), no ids;
 * - per-case-pseudonymised: plus per-case rows with a keyed pseudonym for the case id and numeric metrics only,
 *   ordered by pseudonym.
 */
export function filterEgress(output: EvaluationOutput, egress: EgressLevel, pseudonymSecret: Buffer): FilteredOutput {
  const aggregates = (cleanAggregate(output.aggregates ?? {}, 0) ?? {}) as Record<string, unknown>;
  const out: FilteredOutput = { egress, aggregates: typeof aggregates === 'object' && !Array.isArray(aggregates) ? aggregates : {} };
  if (egress === 'aggregates') return out;
  const dist = output.scoreDistributions;
  if (dist) out.scoreDistributions = { positive: scores(dist.positive), negative: scores(dist.negative) };
  if (egress === 'score-distributions') return out;
  if (Array.isArray(output.perCase)) {
    if (pseudonymSecret.length < 16) throw new Error('filterEgress: the pseudonym secret must be at least 16 bytes');
    out.perCase = output.perCase
      .filter((row) => typeof row?.caseId === 'string')
      .map((row) => {
        const metrics: Record<string, number> = {};
        for (const [k, v] of Object.entries(row.metrics ?? {})) if (typeof v === 'number' && Number.isFinite(v)) metrics[k] = v;
        return { pseudonym: pseudonymOf(pseudonymSecret, row.caseId as string), metrics };
      })
      .sort((a, b) => (a.pseudonym < b.pseudonym ? -1 : a.pseudonym > b.pseudonym ? 1 : 0));
  }
  return out;
}
