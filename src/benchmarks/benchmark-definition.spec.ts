import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DomainError } from '../common/domain-error';
import { sha256OfCanonical } from '../common/hashing';
import { DEFAULT_DETERMINISM_CASES, determinismCasesOf } from './benchmark-definition';
import { validateBenchmarkDefinition } from './benchmark-definition.validate';

const shipped = (): Record<string, unknown> =>
  parse(readFileSync(join(__dirname, '../../benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8')) as Record<string, unknown>;

const problemsOf = (raw: unknown): string[] => {
  try {
    validateBenchmarkDefinition(raw);
    return [];
  } catch (error) {
    return (error as DomainError).problems.map((p) => `${p.field}: ${p.problem}`);
  }
};

describe('validateBenchmarkDefinition', () => {
  it('accepts the shipped wdbc-malignancy definition', () => {
    expect(problemsOf(shipped())).toEqual([]);
  });

  it('names every bad field when several are wrong', () => {
    const def = shipped();
    def.task = 'astrology';
    (def.metrics as Record<string, unknown>).threshold = 2;
    ((def.interface as { inputs: Record<string, unknown>[] }).inputs[0] as Record<string, unknown>).length = -1;
    const problems = problemsOf(def);
    expect(problems.some((p) => p.startsWith('task:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('metrics.threshold:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('interface.inputs.0.length:'))).toBe(true);
  });

  it('rejects unknown metrics and duplicate phases with their paths', () => {
    const def = shipped();
    (def.metrics as Record<string, unknown>).primary = 'accuracy_of_vibes';
    const phases = def.phases as Record<string, unknown>[];
    phases.push({ ...(phases[0] as Record<string, unknown>) });
    const problems = problemsOf(def);
    expect(problems).toContainEqual(expect.stringMatching(/^metrics\.primary: unknown metric 'accuracy_of_vibes'/));
    expect(problems).toContainEqual(expect.stringMatching(/^phases\.2\.name: duplicate phase name/));
  });

  it('accepts the shipped lung-survival definition and refuses per-case ranking for survival', () => {
    const lung = parse(readFileSync(join(__dirname, '../../benchmarks/lung-survival/benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    expect(problemsOf(lung)).toEqual([]);
    const ranking = { ...(lung.ranking as Record<string, unknown>), method: 'rank-then-aggregate' };
    expect(problemsOf({ ...lung, ranking })).toContainEqual(expect.stringMatching(/^ranking.method: rank-then-aggregate ranks on a per-case metric/));
  });

  it("requires a declared τ when a survival benchmark reports Uno's C (issue 8)", () => {
    const lung = parse(readFileSync(join(__dirname, '../../benchmarks/lung-survival/benchmark.yaml'), 'utf8')) as Record<string, unknown>;
    const { tau: _tau, ...metrics } = lung.metrics as Record<string, unknown>;
    expect(problemsOf({ ...lung, metrics })).toContainEqual(expect.stringMatching(/^metrics.tau: c_index_uno needs a declared truncation time τ/));
    expect(problemsOf({ ...lung, metrics: { ...metrics, secondary: [] } })).toEqual([]);
  });

  it('accepts a benchmark-level bootstrap B (metrics.bootstrapReplicates) within [200, 100000]', () => {
    const d = shipped();
    expect(problemsOf({ ...d, metrics: { ...(d.metrics as object), bootstrapReplicates: 4000 } })).toEqual([]);
    expect(problemsOf({ ...d, metrics: { ...(d.metrics as object), bootstrapReplicates: 50 } })).toContainEqual(expect.stringMatching(/^metrics.bootstrapReplicates/));
  });

  it('rejects fields the schema does not know', () => {
    expect(problemsOf({ ...shipped(), secretSauce: true })).toContainEqual(expect.stringMatching(/^secretSauce:/));
  });

  it('says which tasks cannot run yet', () => {
    expect(problemsOf({ ...shipped(), task: 'multiclass-classification' })).toContainEqual(expect.stringMatching(/^task: multiclass-classification cannot be run yet/));
    // An image task on a tabular interface: named by field.
    expect(problemsOf({ ...shipped(), task: 'segmentation', metrics: { primary: 'dice', secondary: [], toleranceMm: 2 } })).toContainEqual(expect.stringMatching(/^interface.inputs: segmentation takes exactly one input of kind 'volume'/));
    expect(problemsOf({ ...shipped(), task: 'segmentation', metrics: { primary: 'dice', secondary: [] } })).toContainEqual(expect.stringMatching(/^metrics.toleranceMm: segmentation needs the NSD tolerance/));
    expect(problemsOf({ ...shipped(), task: 'survival' })).toContainEqual(expect.stringMatching(/^metrics.primary: unknown metric 'auroc'/));
  });

  it('accepts the report block of every shipped benchmark, and the phantom benchmarks say they are SYNTHETIC', () => {
    for (const slug of ['wdbc-malignancy', 'lung-survival', 'lesion-segmentation', 'lesion-detection']) {
      const def = parse(readFileSync(join(__dirname, `../../benchmarks/${slug}/benchmark.yaml`), 'utf8')) as { report: { cohort: { synthetic: boolean }; limitations: string[] } };
      expect(problemsOf(def)).toEqual([]);
      expect(def.report.cohort.synthetic).toBe(slug.startsWith('lesion-'));
      if (slug.startsWith('lesion-')) expect(def.report.limitations.join(' ')).toMatch(/SYNTHETIC/);
    }
  });

  it('names the bad fields of a report block', () => {
    const def = shipped() as Record<string, unknown> & { report: Record<string, unknown> };
    const schema = { ...def, report: { ...def.report, cohort: { ...(def.report.cohort as object), synthetic: 'no' }, limitations: [] } };
    expect(problemsOf(schema)).toEqual(expect.arrayContaining([expect.stringMatching(/^report\.limitations/), expect.stringMatching(/^report\.cohort\.synthetic/)]));
    const criteria = { ...def, report: { ...def.report, acceptanceCriteria: [{ metric: 'dice', bound: 'ci_lower', op: '>=', value: 0.8 }] } };
    expect(problemsOf(criteria)).toEqual([expect.stringMatching(/^report\.acceptanceCriteria\.0\.metric: 'dice' is not a metric/)]);
  });

  describe('limits.determinismCases', () => {
    const withCases = (n: unknown): Record<string, unknown> => {
      const d = shipped();
      return { ...d, limits: { ...(d.limits as object), determinismCases: n } };
    };

    it('accepts a sample size from 0 (off) up, and defaults to 5 when absent', () => {
      expect(problemsOf(withCases(0))).toEqual([]);
      expect(problemsOf(withCases(20))).toEqual([]);
      expect(determinismCasesOf(validateBenchmarkDefinition(shipped()))).toBe(DEFAULT_DETERMINISM_CASES);
      expect(DEFAULT_DETERMINISM_CASES).toBe(5);
      expect(determinismCasesOf(validateBenchmarkDefinition(withCases(0)))).toBe(0);
    });

    it('refuses a negative, fractional or textual sample size, naming the field', () => {
      for (const bad of [-1, 1.5, '5', 1e6]) expect(problemsOf(withCases(bad))).toContainEqual(expect.stringMatching(/^limits.determinismCases:/));
    });

    it('leaves the content of every shipped definition as written (its content hash does not move)', () => {
      for (const slug of readdirSync(join(__dirname, '../../benchmarks'))) {
        const raw = parse(readFileSync(join(__dirname, '../../benchmarks', slug, 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
        // BenchmarksService hashes the validated definition: validation must not write the default into it.
        expect({ slug, hash: sha256OfCanonical(JSON.parse(JSON.stringify(validateBenchmarkDefinition(raw)))) }).toEqual({ slug, hash: sha256OfCanonical(raw) });
      }
    });
  });
});

describe('federated phases (issue 11)', () => {
  const federated = (federation: unknown, at = 1): Record<string, unknown> => {
    const def = shipped();
    (def.phases as Record<string, unknown>[])[at] = { ...(def.phases as Record<string, unknown>[])[at], federation };
    return def;
  };
  const nodes = [
    { node: 'hospital-a', cohort: 'wdbc-a' },
    { node: 'hospital-b', cohort: 'wdbc-b' },
  ];

  it('accepts a held-out phase over two nodes after the facility pre-flight', () => {
    expect(problemsOf(federated({ nodes, egress: 'score-distributions', waitForNodeHours: 48 }))).toEqual([]);
  });

  it('every task pools over nodes: the shipped detection, segmentation and survival benchmarks accept a federated held-out phase', () => {
    for (const slug of ['lesion-detection', 'lesion-segmentation', 'lung-survival']) {
      const def = parse(readFileSync(join(__dirname, '../../benchmarks', slug, 'benchmark.yaml'), 'utf8')) as Record<string, unknown>;
      const phases = def.phases as Record<string, unknown>[];
      const at = phases.findIndex((p) => p.split === 'test');
      expect(at).toBeGreaterThan(0);
      phases[at] = { ...phases[at], federation: { nodes, egress: 'score-distributions', waitForNodeHours: 24 } };
      expect({ slug, problems: problemsOf(def) }).toEqual({ slug, problems: [] });
    }
  });

  it('names each bad field: a node twice, an unknown egress, a wait out of range, a federated pre-flight, an unknown key', () => {
    expect(problemsOf(federated({ nodes: [nodes[0], nodes[0]], egress: 'aggregates', waitForNodeHours: 1 }))).toEqual(["phases.1.federation.nodes.1.node: node 'hospital-a' is named twice"]);
    expect(problemsOf(federated({ nodes, egress: 'everything', waitForNodeHours: 1 }))).toEqual([expect.stringMatching(/^phases\.1\.federation\.egress: /)]);
    expect(problemsOf(federated({ nodes, egress: 'aggregates', waitForNodeHours: 0 }))).toEqual([expect.stringMatching(/^phases\.1\.federation\.waitForNodeHours: /)]);
    expect(problemsOf(federated({ nodes, egress: 'aggregates', waitForNodeHours: 2 }, 0))).toEqual(
      expect.arrayContaining(['phases.0.federation: the public sample runs at the facility (pre-flight); only a held-out phase runs on nodes', 'phases.0.federation: the first phase is the pre-flight at the facility; a federated phase comes after it']),
    );
    expect(problemsOf(federated({ nodes: [{ ...nodes[0], url: 'https://hospital' }], egress: 'aggregates', waitForNodeHours: 2 }))).toEqual([expect.stringMatching(/^phases\.1\.federation\.nodes\.0\.url: /)]);
    expect(problemsOf(federated({ nodes: [{ node: '../etc', cohort: 'x' }], egress: 'aggregates', waitForNodeHours: 2 }))).toEqual([expect.stringMatching(/^phases\.1\.federation\.nodes\.0\.node: /)]);
  });
});
