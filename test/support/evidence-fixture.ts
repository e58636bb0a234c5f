import { EVIDENCE_SCHEMA, EvidenceRecord } from '../../src/reports/evidence';

/** A small but complete evidence record; override what a test is about. */
export function evidenceFixture(overrides: Partial<EvidenceRecord> = {}): EvidenceRecord {
  const estimate = { value: 0.91, ci: [0.87, 0.94] as [number, number], method: 'AUROC (Mann-Whitney); 95% CI DeLong', n: 114 };
  return {
    schema: EVIDENCE_SCHEMA,
    reportId: '0123456789abcdef0123456789abcdef',
    audience: 'full',
    date: '2026-12-01T10:00:00.000Z',
    identity: {
      submission: { id: 's1', name: 'acme', kind: 'onnx', version: '1.0.0', organisation: 'Acme', sha256: 'a'.repeat(64), imageId: null, submittedAt: '2026-12-01T09:00:00.000Z' },
      benchmark: { slug: 'wdbc-malignancy', title: 'WDBC', version: 1, contentHash: 'b'.repeat(64), phase: 'test', split: 'test' },
      cohort: { slug: 'wdbc', title: 'WDBC cohort', version: 1, contentHash: 'c'.repeat(64), attribution: 'UCI' },
      software: { assayVersion: '0.1.0', metricCodeVersion: null, runnerImageId: null, libraries: { 'onnxruntime-node': '1.30.0' } },
      seeds: { bootstrap: 42 },
      execution: { runId: 'r1', workerId: 'w1', sandboxRuntime: 'runc', hardware: null, queuedAt: '2026-12-01T09:00:01.000Z', startedAt: '2026-12-01T09:00:02.000Z', finishedAt: '2026-12-01T10:00:00.000Z', attempts: 1 },
    },
    intendedUse: { purpose: 'Second reader for breast FNA cytology — “malignant” vs benign <script>' },
    protocol: {
      task: 'binary-classification', problemCategory: 'image-level classification', primaryMetric: 'auroc', metrics: [{ name: 'auroc' }], ciMethod: 'DeLong', bootstrap: { replicates: 1000, seed: 42 },
      failureRule: 'a failed case scores as wrong', aggregation: 'pooled', subgroups: ['site'], multiplicity: 'Holm', ranking: 'primary metric', acceptanceCriteria: [{ metric: 'auroc', bound: 'ci_lower', op: '>=', value: 0.8 }], protocolSha256: 'b'.repeat(64),
    },
    referenceStandard: { definition: 'histopathology' },
    cohort: { sources: 'UCI', synthetic: false, independence: 'held out', demographics: [], acquisition: [], disease: [], flow: { eligible: 114, excluded: 0, failed: 0, analysed: 114, notes: [] } },
    execution: { casesTotal: 114, casesScored: 114, failures: [], runTimeMs: 1234, timings: {}, determinism: { checked: true, cases: 10, identical: 10, method: 're-run' } },
    primary: { endpoint: { metric: 'auroc', direction: 'higher', ...estimate }, acceptance: [{ criterion: 'auroc CI lower >= 0.8', met: true }], secondary: [], curves: [{ kind: 'roc', points: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] }], tables: [] },
    calibration: null,
    subgroups: { metric: 'auroc', rows: [], insufficientNote: 'none' },
    robustness: { byAttribute: [], sensitivity: [] },
    failureAnalysis: { worst: [], failedCases: [], failureRateBySubgroup: [] },
    comparators: [],
    benchmarkContext: null,
    limitations: ['small cohort'],
    changeControl: { rerun: 'same inputs', protocolSha256: 'b'.repeat(64), cohortContentHash: 'c'.repeat(64), drift: 'n/a' },
    annexes: { metricDefinitions: [], perCase: { columns: ['case', 'p'], rows: [['c1', 0.5]] }, perCaseWithheld: null, checklists: [], sbom: {} },
    ...overrides,
  };
}
