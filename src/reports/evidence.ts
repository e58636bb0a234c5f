/**
 * The validation report's evidence record (issue 10; the 16 sections of ../shared/METRICS.md §9). One record is the
 * content; the JSON, HTML and PDF are renderings of it. The record is a pure function of what the run stored (no
 * generation time, no random ids): re-building it from the same run gives the same canonical bytes and so the same
 * evidence hash. Every number that is an estimate carries its CI and the name of its method.
 *
 * Shared contract between the builder (src/reports/evidence-builder.ts), the renderers (src/reports/render/) and the
 * signer/verifier (src/reports/signing/). Add fields; never change the meaning of one (bump EVIDENCE_SCHEMA instead).
 */
import type { IntendedUse } from '../submissions/submissions.entity';

export const EVIDENCE_SCHEMA = 'assay.validation-report/1';

/** `full`: staff and granted regulators. `vendor`: what the benchmark allows a vendor (no per-case annex for held-out cases). */
export type ReportAudience = 'full' | 'vendor';

export interface Estimate {
  /** null = not estimable (reason in method). */
  value: number | null;
  ci: [number, number] | null;
  /** Estimator and CI method, e.g. "AUROC (Mann-Whitney); 95% CI DeLong". */
  method: string;
  n?: number;
  counts?: { numerator: number; denominator: number };
}

export interface NamedEstimate extends Estimate {
  metric: string;
  /** 'higher' | 'lower' is better. */
  direction?: 'higher' | 'lower';
}

export interface CountTable {
  /** e.g. "sex", "age_band", "site", "scanner". */
  attribute: string;
  levels: { level: string; n: number }[];
}

/** A plot's data; the renderer draws it (SVG), the record keeps only the numbers. */
export type Curve =
  | { kind: 'roc'; points: { fpr: number; tpr: number }[]; band?: { fpr: number; lo: number; hi: number }[]; auc?: Estimate }
  | { kind: 'pr'; points: { recall: number; precision: number }[]; prevalence: number }
  | { kind: 'reliability'; bins: { predicted: number; observed: number; n: number; lo?: number; hi?: number }[] }
  | { kind: 'decision'; points: { threshold: number; model: number; treatAll: number; treatNone: number }[] }
  | { kind: 'froc'; points: { fpPerCase: number; sensitivity: number }[]; band?: { fpPerCase: number; lo: number; hi: number }[] }
  | { kind: 'distribution'; metric: string; values: number[] }
  | { kind: 'survival-calibration'; horizon: number; bins: { predicted: number; observed: number; n: number }[] };

export interface EvidenceRecord {
  schema: typeof EVIDENCE_SCHEMA;
  /** Deterministic: sha256(submissionId:benchmarkVersionId:phase:audience), first 32 hex digits. */
  reportId: string;
  audience: ReportAudience;
  /** The run's finish time (ISO 8601): the report's date. */
  date: string;

  /** §1 Identity and provenance. */
  identity: {
    submission: { id: string; name: string; kind: 'onnx' | 'container'; version: string | null; organisation: string; sha256: string; imageId: string | null; submittedAt: string };
    benchmark: { slug: string; title: string; version: number; contentHash: string; phase: string; split: string };
    cohort: { slug: string; title: string; version: number; contentHash: string; attribution: string };
    software: { assayVersion: string; metricCodeVersion: string | null; runnerImageId: string | null; libraries: Record<string, string> };
    seeds: Record<string, number>;
    execution: { runId: string; workerId: string | null; sandboxRuntime: string | null; hardware: string | null; queuedAt: string; startedAt: string | null; finishedAt: string | null; attempts: number };
  };
  /** §2 Intended use as the vendor declared it at submission; null when not declared (said so in the report). */
  intendedUse: IntendedUse | null;
  /** §3 The pre-specified protocol (from the benchmark version); protocolSha256 = the benchmark content hash. */
  protocol: {
    task: string;
    problemCategory: string;
    primaryMetric: string;
    metrics: { name: string; params?: Record<string, unknown> }[];
    ciMethod: string;
    bootstrap: { replicates: number; seed: number } | null;
    hitCriterion?: string;
    emptyCaseRule?: string;
    failureRule: string;
    aggregation: string;
    subgroups: string[];
    multiplicity: string;
    ranking: string;
    acceptanceCriteria: { metric: string; bound: 'ci_lower' | 'ci_upper' | 'estimate'; op: '>=' | '<='; value: number }[];
    protocolSha256: string;
  };
  /** §4 Reference standard. */
  referenceStandard: { definition: string; annotators?: string; protocol?: string; adjudication?: string; agreement?: string; indeterminate?: string };
  /** §5 Test cohort. */
  cohort: {
    sources: string;
    synthetic: boolean;
    inclusion?: string;
    collectionPeriod?: string;
    sampling?: string;
    independence: string;
    demographics: CountTable[];
    acquisition: CountTable[];
    disease: CountTable[];
    flow: { eligible: number; excluded: number; failed: number; analysed: number; notes: string[] };
    /** The population the benchmark's cohort stands for (benchmark.yaml `report.intendedPopulation`). */
    intendedPopulation?: string;
  };
  /** §6 Execution and technical performance. */
  execution: {
    casesTotal: number;
    casesScored: number;
    failures: { reason: string; count: number; detail?: string }[];
    runTimeMs: number | null;
    timings: Record<string, number>;
    determinism: { checked: boolean; cases: number; identical: number; method: string; detail?: string };
  };
  /** §7 Primary results. */
  primary: { endpoint: NamedEstimate; acceptance: { criterion: string; met: boolean | null }[]; secondary: NamedEstimate[]; curves: Curve[]; tables: { title: string; columns: string[]; rows: (string | number | null)[][] }[] };
  /** §8 Calibration and clinical utility; null when the task outputs no probabilities. */
  calibration: { estimates: NamedEstimate[]; curves: Curve[] } | null;
  /** §9 Subgroups (forest plot). */
  subgroups: { metric: string; rows: { attribute: string; level: string; n: number; estimate: Estimate; insufficient: boolean }[]; insufficientNote: string };
  /** §10 Robustness: by site / scanner / protocol, and implementation-choice sensitivity. */
  robustness: { byAttribute: { attribute: string; level: string; n: number; estimate: Estimate }[]; sensitivity: { choice: string; estimate: Estimate }[] };
  /** §11 Failure analysis: worst cases (pseudonymised ids in the vendor form), failed cases, failure rate per subgroup. */
  failureAnalysis: { worst: { caseRef: string; metric: string; value: number | null; note?: string }[]; failedCases: { caseRef: string; reason: string }[]; failureRateBySubgroup: { attribute: string; level: string; failed: number; n: number }[]; note?: string };
  /** §12 Comparators: paired tests against chosen other submissions on the same cases. */
  comparators: { against: { submissionId: string; name: string; organisation: string }; n: number; results: { metric: string; difference: Estimate; pValue: number | null; pHolm: number | null }[] }[];
  /** §13 Benchmark context, non-regulatory. */
  benchmarkContext: { nonRegulatory: true; entries: number; rank: number | null; medianRank: number | null; rankInterval: [number, number] | null; rankShare: number[] | null; kendallTau: { median: number; q25: number; q75: number } | null } | null;
  /** §14 Limitations and generalisability. */
  limitations: string[];
  /** §15 Change control and monitoring. */
  changeControl: { rerun: string; protocolSha256: string; cohortContentHash: string; drift: string };
  /** What this form leaves out and why (the vendor form of a held-out run); empty in the full form. */
  withheld?: { section: string; reason: string }[];
  /**
   * A run of a federated phase (issue 11): the nodes that held the cases (their cohorts never left them), how each
   * metric was pooled at the hub (exact / meta-analysis / stratified), the nodes' own values of the primary metric
   * (small nodes suppressed), and the between-node heterogeneity. Absent for a run at the facility.
   */
  federation?: {
    nodes: { node: string; cohort: string; contentHash: string; egress: string }[];
    pooling: { metric: string; pooling: string; method: string }[];
    perNode: { metric: string; rows: { node: string; n: number | string; estimate: Estimate | null; suppressed: boolean }[] };
    heterogeneity: { metric: string; i2: number; tau2: number; q: number; df: number; pQ: number; predictionInterval: [number, number] | null; method: string }[];
  };
  /** §16 Annexes. */
  annexes: {
    metricDefinitions: { metric: string; definition: string; reference: string }[];
    /** Per-case table for authorised readers; null with the reason when withheld (vendor form of a held-out run). */
    perCase: { columns: string[]; rows: (string | number | null)[][] } | null;
    perCaseWithheld: string | null;
    checklists: { checklist: string; item: string; section: string }[];
    sbom: Record<string, string>;
  };
}

/** evidence.json as downloaded: the record and its Ed25519 signature over canonicalJson(evidence). */
export interface SignedEvidence {
  evidence: EvidenceRecord;
  signature: EvidenceSignature;
}

export interface EvidenceSignature {
  alg: 'Ed25519';
  keyId: string;
  /** sha256 hex of the canonical (RFC 8785) bytes of `evidence`. */
  evidenceSha256: string;
  /** base64url Ed25519 signature of those canonical bytes. */
  value: string;
  /**
   * base64url Ed25519 signature of the UTF-8 bytes "assay.evidence-sha256:" + evidenceSha256: what
   * GET /api/reports/verify checks when all one holds is the hash (a printed report), since Ed25519 signs messages,
   * not digests. Added by the signer (signing/report-signer.ts); optional for records made before it.
   */
  digestValue?: string;
}
