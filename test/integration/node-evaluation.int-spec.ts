import type { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildReferenceModels, type BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import { predictProbability } from '../../scripts/reference-models/logistic-regression';
import { parseCohortCsv } from '../../scripts/reference-models/wdbc-csv';
import { validateBenchmarkDefinition } from '../../src/benchmarks/benchmark-definition.validate';
import type { BenchmarkDefinition } from '../../src/benchmarks/benchmark-definition';
import { validateCohortDescriptor } from '../../src/cohorts/cohort-ingest';
import { cohortFileOf } from '../../src/cohorts/cohort-version';
import { sha256Hex } from '../../src/common/hashing';
import { cohortRegistration, NodeCohortCatalogue, type NodeCohortVersion } from '../../src/node-runs/node-cohorts';
import type { NodePolicy } from '../../src/federation/node-policy';
import { AssayMetrics } from '../../src/observability/metrics';
import { type NodeEvaluationJob, type NodeEvaluationResult, NodeEvaluator } from '../../src/node-runs/node-evaluator';
import { StorageService } from '../../src/storage/storage.service';
import { BINARY_FEDERATION, type BinaryNodeSummary } from '../../src/tasks/binary-classification/binary-federation';
import { pairCountAuroc } from '../support/oracles';
import { startNodeContext } from '../support/node-context';
import { REPO_ROOT } from '../support/test-stack';

// Two federated nodes in this process, each with its own object store (an S3 server of its own) and work root, on
// the real Docker engine and sandbox: WDBC split by row into two hospitals' cohorts, ingested on each node with the
// hub's code; the reference logistic model run on each node's held-out split; the summaries pooled as the hub does.

interface Node {
  name: string;
  ctx: INestApplicationContext;
  catalogue: NodeCohortCatalogue;
  evaluator: NodeEvaluator;
  storage: StorageService;
  cohort: NodeCohortVersion;
  dataDir: string;
}

const csv = readFileSync(join(REPO_ROOT, 'cohorts/wdbc/wdbc.csv'), 'utf8');
const lines = csv.trimEnd().split('\n');
const header = lines[0] as string;
const rows = lines.slice(1);
const descriptor = parseYaml(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;

async function startNode(name: string, part: string[]): Promise<Node> {
  const { ctx, dataDir } = await startNodeContext(name);
  const catalogue = ctx.get(NodeCohortCatalogue);
  const { version } = await catalogue.ingestTabular(validateCohortDescriptor({ ...descriptor, title: `WDBC at ${name}` }), Buffer.from(`${header}\n${part.join('\n')}\n`));
  return { name, ctx, catalogue, evaluator: ctx.get(NodeEvaluator), storage: ctx.get(StorageService), cohort: version, dataDir };
}

describe('federated node evaluation (real sandbox, each node its own object store)', () => {
  let a: Node;
  let b: Node;
  let models: BuildReferenceModelsResult;
  let model: Buffer;
  let work: string;
  let definition: BenchmarkDefinition;

  beforeAll(async () => {
    a = await startNode('hospital-a', rows.slice(0, 300));
    b = await startNode('hospital-b', rows.slice(300));
    work = mkdtempSync(join(tmpdir(), 'assay-node-models-'));
    // The vendor trains on hospital A's public sample, as a vendor would on the sample a benchmark publishes.
    writeFileSync(join(work, 'sample.csv'), await a.storage.getBuffer('inputs', cohortFileOf(a.cohort, 'inputs', 'sample/sample-with-labels.csv').key));
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
    model = readFileSync(models.logreg.modelPath);
    const raw = parseYaml(readFileSync(join(REPO_ROOT, 'benchmarks/wdbc-malignancy/benchmark.yaml'), 'utf8'));
    const dto = validateBenchmarkDefinition(raw);
    definition = JSON.parse(JSON.stringify({ ...dto, cohort: { slug: 'wdbc', contentHash: a.cohort.contentHash } })) as BenchmarkDefinition;
  }, 300_000);

  afterAll(async () => {
    for (const n of [a, b]) {
      await n?.ctx.close();
      if (n) rmSync(n.dataDir, { recursive: true, force: true });
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const job = (node: Node, over: Partial<NodeEvaluationJob> = {}): NodeEvaluationJob => ({
    jobId: `job-${node.name}-${randomBytes(3).toString('hex')}`,
    attempt: 1,
    benchmark: { slug: 'wdbc-malignancy', version: 1, definition },
    cohort: { slug: 'wdbc', contentHash: node.cohort.contentHash },
    split: 'test',
    submission: { id: 'sub-1', kind: 'onnx', sha256: sha256Hex(model), bytes: model.length, manifest: models.logreg.manifest as never },
    vendor: { organisationId: 'org-vendor-a', name: 'Vendor A' },
    egress: 'score-distributions',
    seed: node === a ? 101 : 202,
    ...over,
  });
  const policy = (over: Partial<NodePolicy> = {}): NodePolicy => ({ acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'score-distributions', ...over });
  const open = policy();

  it('registers metadata only, with small cells suppressed', () => {
    const reg = cohortRegistration(a.cohort);
    expect(reg).toMatchObject({ name: 'wdbc', contentHash: a.cohort.contentHash, caseCounts: { sample: 20, test: 280 }, acquisition: { modality: [{ value: 'tabular-binary', count: 300 }] } });
    const text = JSON.stringify(reg);
    for (const c of a.cohort.cases) expect(text.includes(c.caseId)).toBe(false);
  });

  it('two nodes evaluate on their own held-out cases; the hub pools AUROC exactly, equal to the single-site value on the union', async () => {
    const results = (await Promise.all([a, b].map((n) => n.evaluator.evaluate(job(n), open, async () => model)))) as NodeEvaluationResult[];
    for (const r of results) expect(r).toMatchObject({ status: 'succeeded', egress: 'score-distributions', determinism: { checked: true } });
    const ok = results as Extract<NodeEvaluationResult, { status: 'succeeded' }>[];
    expect(ok.map((r) => r.n)).toEqual([280, 249]);
    // Nothing of a case's identity leaves a node: no case id in any result.
    const leaving = JSON.stringify(ok);
    for (const c of [...a.cohort.cases, ...b.cohort.cases]) expect(leaving.includes(`"${c.caseId}"`)).toBe(false);

    const pooled = BINARY_FEDERATION.pool({ definition, nodes: ok.map((r, k) => ({ node: k === 0 ? 'hospital-a' : 'hospital-b', summary: r.summary as BinaryNodeSummary })) });
    // Independent oracle: the labels from the source CSV, the model's probability in float64, AUROC by pair counting.
    const all = parseCohortCsv(csv);
    const heldOut = new Set([...a.cohort.cases, ...b.cohort.cases].filter((c) => c.split === 'test').map((c) => c.caseId));
    // Node case ids are the source's row ids on both nodes (each node's own cohort): rows 1–300 at A, 301–569 at B.
    const testCases = all.filter((c) => heldOut.has(c.caseId));
    expect(testCases).toHaveLength(529);
    const expected = pairCountAuroc(testCases.map((c) => c.label), testCases.map((c) => predictProbability(models.logreg.fit, c.features)));
    expect(pooled.metrics['auroc']).toMatchObject({ pooling: 'exact' });
    expect(Math.abs((pooled.metrics['auroc']?.value as number) - expected)).toBeLessThan(1e-4); // float32 inference in the sandbox
    expect(pooled.n).toBe(529);
    expect(pooled.perNode['auroc']?.map((r) => r.group)).toEqual(['hospital-a', 'hospital-b']);
    // The vendor's logs stayed on each node, in its own store.
    for (const n of [a, b]) expect((await n.storage.list('artifacts', 'runs/node-logs/')).length).toBeGreaterThan(0);
    // Each node's own metrics (its scrape listener, ASSAY_METRICS_PORT): the job's steps, labelled by step only.
    const text = await a.ctx.get(AssayMetrics).registry.metrics();
    expect(text).toMatch(/assay_run_step_duration_seconds_count\{step="sandbox_total",status="succeeded"\} [1-9]/);
    expect(text).not.toMatch(/HOSPA|hospital-a|sub-/);
  }, 300_000);

  it("a node's policy lowers what leaves (aggregates only): no scores in its summary, AUROC then pooled by a labelled meta-analysis", async () => {
    const [ra, rb] = await Promise.all([a.evaluator.evaluate(job(a), open, async () => model), b.evaluator.evaluate(job(b), policy({ egress: 'aggregates' }), async () => model)]);
    expect(rb).toMatchObject({ status: 'succeeded', egress: 'aggregates' });
    const sb = (rb as Extract<NodeEvaluationResult, { status: 'succeeded' }>).summary as BinaryNodeSummary;
    expect(sb.distribution).toBeUndefined();
    const pooled = BINARY_FEDERATION.pool({
      definition,
      nodes: [
        { node: 'hospital-a', summary: (ra as Extract<NodeEvaluationResult, { status: 'succeeded' }>).summary as BinaryNodeSummary },
        { node: 'hospital-b', summary: sb },
      ],
    });
    expect(pooled.metrics['auroc']).toMatchObject({ pooling: 'meta-analysis', method: expect.stringMatching(/DerSimonian–Laird/) });
    expect(pooled.metrics['sensitivity']).toMatchObject({ pooling: 'exact' });
  }, 300_000);

  it('refuses what its policy does not accept without running anything, and an artefact that is not the one named', async () => {
    await expect(a.evaluator.evaluate(job(a), policy({ acceptedBenchmarks: ['lung-survival'] }), async () => model)).resolves.toEqual({ status: 'refused-by-policy', detail: "benchmark 'wdbc-malignancy' is not accepted by this node's policy" });
    await expect(a.evaluator.evaluate(job(a), policy({ acceptedVendorOrganisations: ['someone-else'] }), async () => model)).resolves.toMatchObject({ status: 'refused-by-policy', detail: expect.stringMatching(/vendor organisation 'org-vendor-a'/) });
    await expect(a.evaluator.evaluate(job(a), policy({ resourceLimits: { maxMemoryMb: 256 } }), async () => model)).resolves.toMatchObject({ status: 'refused-by-policy', detail: expect.stringMatching(/memoryMb 1024 exceeds/) });
    const tampered = Buffer.from(model);
    tampered.writeUInt8((tampered.at(-1) as number) ^ 1, tampered.length - 1);
    await expect(a.evaluator.evaluate(job(a), open, async () => tampered)).rejects.toThrow(/does not match its sha256/);
    await expect(a.evaluator.evaluate(job(a, { cohort: { slug: 'wdbc', contentHash: 'f'.repeat(64) } }), open, async () => model)).rejects.toThrow(/holds no cohort/);
  }, 120_000);

  it("holds a run to the policy's maxRunSeconds as a whole: refused up front when the limits could exceed it, stopped on the wall clock otherwise", async () => {
    const limits = definition.limits;
    const fast = { ...definition, limits: { ...limits, resources: { ...limits.resources, timeoutSeconds: 1, batchSize: 1000 } } };
    let fetched = 0;
    // 280 held-out cases one per container at the benchmark's own timeout: refused before the artefact is fetched.
    const slow = { ...definition, limits: { ...limits, resources: { ...limits.resources, batchSize: 1 } } };
    const refused = await a.evaluator.evaluate(job(a, { benchmark: { slug: 'wdbc-malignancy', version: 1, definition: slow } }), policy({ resourceLimits: { maxRunSeconds: 600 } }), async () => {
      fetched++;
      return model;
    });
    expect(refused).toMatchObject({ status: 'refused-by-policy', detail: expect.stringMatching(/^the run may take up to \d+ s \(282 sandbox containers .*beyond this node's maxRunSeconds 600$/) });
    expect(fetched).toBe(0);
    // Three containers of at most 1 s fit in 4 s, but the artefact takes 5 s to arrive: stopped at the limit.
    const started = Date.now();
    const stopped = await a.evaluator.evaluate(job(a, { benchmark: { slug: 'wdbc-malignancy', version: 1, definition: fast } }), policy({ resourceLimits: { maxRunSeconds: 4 } }), async () => {
      await new Promise((r) => setTimeout(r, 5000));
      return model;
    });
    expect(stopped).toEqual({ status: 'refused-by-policy', detail: "the run went past this node's maxRunSeconds 4 and was stopped" });
    expect(Date.now() - started).toBeLessThan(8000);
  }, 120_000);

  it('a model that fails on the node is the vendor\'s fault, reported as such', async () => {
    const { nanModel } = await import('../support/onnx-models');
    const bad = nanModel();
    const manifest = { name: 'nan', version: '1.0.0', inputs: { features: 'input' }, outputs: { probability: 'probability' } };
    const r = await a.evaluator.evaluate(job(a, { submission: { id: 'sub-nan', kind: 'onnx', sha256: sha256Hex(bad), bytes: bad.length, manifest: manifest as never } }), open, async () => bad);
    expect(r).toMatchObject({ status: 'failed', reason: 'invalid_output' });
    expect(await a.ctx.get(AssayMetrics).registry.metrics()).toMatch(/assay_run_failures_total\{reason="invalid_output",fault="vendor"\} 1/);
  }, 120_000);
});
