import type { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { validateBenchmarkDefinition } from '../../src/benchmarks/benchmark-definition.validate';
import type { BenchmarkDefinition } from '../../src/benchmarks/benchmark-definition';
import { sha256Hex } from '../../src/common/hashing';
import { filterEgress, type EgressLevel } from '../../src/federation/node-policy';
import { evaluationOutputOf } from '../../src/node-runs/evaluation-handler';
import { NodeCohortCatalogue, type NodeCohortVersion } from '../../src/node-runs/node-cohorts';
import { type NodeEvaluationJob, type NodeEvaluationResult, NodeEvaluator } from '../../src/node-runs/node-evaluator';
import { writeCohort } from '../../src/phantoms/cohort';
import { summaryFromOutput } from '../../src/runs/federated-runs';
import { taskDefinition } from '../../src/tasks/registry';
import { startNodeContext } from '../support/node-context';
import { REPO_ROOT } from '../support/test-stack';

// Imaging at federated nodes: two nodes in this process, each with its own object store and work root, each holding
// half of a SYNTHETIC lesion-phantom cohort ingested with the facility's imaging code, run the shipped detection and
// segmentation benchmarks' reference ONNX models in the real sandbox; the results go through the node's output
// shaping, its egress filter and the hub's reader, and are pooled as the hub pools them. Oracle for the counts: the
// cohort's own lesions.csv and cases.csv, read here with csv-parse, not with Assay's readers.

jest.setTimeout(600_000);

interface Node {
  name: string;
  ctx: INestApplicationContext;
  evaluator: NodeEvaluator;
  cohort: NodeCohortVersion;
  dataDir: string;
}

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'onnx');
const SECRET = randomBytes(32);

async function startNode(name: string, folder: string): Promise<Node> {
  const { ctx, dataDir } = await startNodeContext(name);
  const { version } = await ctx.get(NodeCohortCatalogue).ingestFolder(folder);
  return { name, ctx, evaluator: ctx.get(NodeEvaluator), cohort: version, dataDir };
}

/** A node's half of the generated cohort as a cohort folder: the shipped cohort.yaml without its generator. */
function nodeFolder(all: string, out: string, ids: Set<string>, title: string): void {
  mkdirSync(join(out, 'images'), { recursive: true });
  mkdirSync(join(out, 'masks'), { recursive: true });
  const descriptor = parseYaml(readFileSync(join(REPO_ROOT, 'cohorts/lesion-phantoms/cohort.yaml'), 'utf8')) as Record<string, unknown>;
  delete descriptor['generator'];
  writeFileSync(join(out, 'cohort.yaml'), stringifyYaml({ ...descriptor, title, split: { seed: 20261123, sampleSize: 2 } }));
  for (const file of ['cases.csv', 'lesions.csv']) {
    const [head, ...rest] = readFileSync(join(all, file), 'utf8').trimEnd().split('\n');
    writeFileSync(join(out, file), `${[head, ...rest.filter((l) => ids.has(l.split(',')[0] as string))].join('\n')}\n`);
  }
  for (const id of ids) for (const f of ['images', 'masks']) copyFileSync(join(all, f, `${id}.nii.gz`), join(out, f, `${id}.nii.gz`));
}

describe('imaging at federated nodes (real sandbox, real ONNX models, each node its own store)', () => {
  let root: string;
  let a: Node;
  let b: Node;
  let lesionRows: Record<string, string>[];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'assay-node-imaging-'));
    const all = join(root, 'all');
    await writeCohort({ seed: 20261209, cases: 14, size: [96, 96, 48], outDir: all });
    const ids = (parseCsv(readFileSync(join(all, 'cases.csv'), 'utf8'), { columns: true }) as { case_id: string }[]).map((r) => r.case_id);
    lesionRows = parseCsv(readFileSync(join(all, 'lesions.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    nodeFolder(all, join(root, 'a'), new Set(ids.slice(0, 7)), 'Lesion phantoms at hospital A (SYNTHETIC)');
    nodeFolder(all, join(root, 'b'), new Set(ids.slice(7)), 'Lesion phantoms at hospital B (SYNTHETIC)');
    [a, b] = await Promise.all([startNode('hospital-a', join(root, 'a')), startNode('hospital-b', join(root, 'b'))]);
  }, 300_000);

  afterAll(async () => {
    for (const n of [a, b]) {
      await n?.ctx.close();
      if (n) rmSync(n.dataDir, { recursive: true, force: true });
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const definitionOf = (slug: string, node: Node): BenchmarkDefinition => {
    const dto = validateBenchmarkDefinition(parseYaml(readFileSync(join(REPO_ROOT, 'benchmarks', slug, 'benchmark.yaml'), 'utf8')));
    return JSON.parse(JSON.stringify({ ...dto, cohort: { slug: 'lesion-phantoms', contentHash: node.cohort.contentHash } })) as BenchmarkDefinition;
  };
  const job = (node: Node, slug: string, model: string, egress: EgressLevel, seed: number): { job: NodeEvaluationJob; bytes: Buffer } => {
    const bytes = readFileSync(join(FIXTURES, model, 'model.onnx'));
    const manifest = JSON.parse(readFileSync(join(FIXTURES, model, 'manifest.json'), 'utf8')) as never;
    return {
      bytes,
      job: {
        jobId: `job-${node.name}-${randomBytes(3).toString('hex')}`,
        attempt: 1,
        benchmark: { slug, version: 1, definition: definitionOf(slug, node) },
        cohort: { slug: 'lesion-phantoms', contentHash: node.cohort.contentHash },
        split: 'test',
        submission: { id: `sub-${model}`, kind: 'onnx', sha256: sha256Hex(bytes), bytes: bytes.length, manifest },
        vendor: { organisationId: 'org-imaging', name: 'Imaging Vendor' },
        egress,
        seed,
      },
    };
  };
  /** Runs the job on the node, then what the node signs and the hub reads: shaped, filtered by the policy, JSON. */
  const runAt = async (node: Node, slug: string, model: string, egress: EgressLevel, seed: number): Promise<{ node: string; summary: unknown; wire: string }> => {
    const { job: j, bytes } = job(node, slug, model, egress, seed);
    const r = await node.evaluator.evaluate(j, { acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress }, async () => bytes);
    expect(r).toMatchObject({ status: 'succeeded' });
    const wire = JSON.stringify(filterEgress(evaluationOutputOf(r as Extract<NodeEvaluationResult, { status: 'succeeded' }>), egress, SECRET));
    return { node: node.name, summary: summaryFromOutput(JSON.parse(wire)), wire };
  };
  const testIds = (): string[] => [...a.cohort.cases, ...b.cohort.cases].filter((c) => c.split === 'test').map((c) => c.caseId);

  it('detection: both nodes find lesions in their held-out phantoms; the hub pools CPM exactly from the score lists; the counts match the cohort files', async () => {
    const nodes = await Promise.all([runAt(a, 'lesion-detection', 'lesion-det', 'score-distributions', 31), runAt(b, 'lesion-detection', 'lesion-det', 'score-distributions', 32)]);
    const definition = definitionOf('lesion-detection', a);
    const pooled = taskDefinition('detection').federation?.pool({ definition, nodes });
    const held = new Set(testIds());
    expect(held.size).toBe(10);
    const lesions = lesionRows.filter((r) => held.has(r['case_id'] as string) && r['lesion_id'] !== '').length;
    expect(pooled?.n).toBe(10);
    expect(pooled?.metrics['sensitivity']).toMatchObject({ pooling: 'exact', counts: { denominator: lesions } });
    expect(pooled?.metrics['fp_per_scan']).toMatchObject({ pooling: 'exact', counts: { denominator: 10 } });
    // The numerators are the nodes' own counts (each node's single-site score of its own scans).
    const own = nodes.map((n) => (n.summary as { metrics: Record<string, { counts?: { numerator: number } }> }).metrics);
    expect(pooled?.metrics['sensitivity']?.counts?.numerator).toBe(own.reduce((acc, m) => acc + (m['sensitivity']?.counts?.numerator as number), 0));
    expect(pooled?.metrics['sensitivity']?.counts?.numerator).toBeGreaterThan(0);
    for (const m of ['cpm', 'cpm_nearest']) {
      expect(pooled?.metrics[m]).toMatchObject({ pooling: 'exact', method: expect.stringMatching(/union of the nodes' lesion and false-positive score lists/) });
      expect(pooled?.metrics[m]?.value).toBeGreaterThanOrEqual(0);
      expect(pooled?.metrics[m]?.value).toBeLessThanOrEqual(1);
    }
    for (const n of nodes) for (const id of [...a.cohort.cases, ...b.cohort.cases].map((c) => c.caseId)) expect(n.wire.includes(id)).toBe(false);
  });

  it("the hub's pooled value is the single-site value: node A's scans counted twice (A and a copy of A) pool to A's own metrics, exactly", async () => {
    // Every count of the union doubles, so every ratio, the FROC curve and both CPMs are those of A alone, bit for
    // bit; A's own numbers come from the node's single-site scorer, the pooled ones from the hub's union path.
    for (const [slug, model, task, egress, names] of [
      ['lesion-detection', 'lesion-det', 'detection', 'score-distributions', ['cpm', 'cpm_nearest', 'sensitivity', 'fp_per_scan']],
      ['lesion-segmentation', 'lesion-seg', 'segmentation', 'aggregates', ['dice', 'nsd', 'hd95', 'iou']],
    ] as const) {
      const first = await runAt(a, slug, model, egress, 51);
      const again = await runAt(a, slug, model, egress, 52);
      const pooled = taskDefinition(task).federation?.pool({ definition: definitionOf(slug, a), nodes: [first, { ...again, node: 'hospital-a-copy' }] });
      const own = (first.summary as { metrics: Record<string, { value: number | null }> }).metrics;
      expect(pooled?.n).toBe(10);
      for (const m of names) {
        expect({ m, value: pooled?.metrics[m]?.value, pooling: pooled?.metrics[m]?.pooling }).toEqual({ m, value: own[m]?.value, pooling: 'exact' });
        expect(typeof own[m]?.value).toBe('number');
      }
    }
  });

  it('segmentation: Dice and NSD pooled exactly from sums (aggregates only leave), n the held-out phantoms of both nodes', async () => {
    const nodes = await Promise.all([runAt(a, 'lesion-segmentation', 'lesion-seg', 'aggregates', 41), runAt(b, 'lesion-segmentation', 'lesion-seg', 'aggregates', 42)]);
    const pooled = taskDefinition('segmentation').federation?.pool({ definition: definitionOf('lesion-segmentation', a), nodes });
    expect(pooled?.n).toBe(10);
    for (const m of ['dice', 'nsd']) {
      expect(pooled?.metrics[m]).toMatchObject({ pooling: 'exact', method: expect.stringMatching(/stratified by node/) });
      expect(pooled?.metrics[m]?.value).toBeGreaterThan(0);
      expect(pooled?.metrics[m]?.ci).not.toBeNull();
    }
    for (const n of nodes) expect(n.wire).not.toMatch(/LP-\d/);
  });
});
