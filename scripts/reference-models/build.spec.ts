import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { InferenceSession } from 'onnxruntime-node';
import { BASELINE_FEATURE, buildReferenceModels, BuildReferenceModelsResult, main } from './build';
import { predictProbability } from './logistic-regression';
import { parseCohortCsv, WDBC_FEATURES, WdbcCase } from './wdbc-csv';

const REPO = join(__dirname, '..', '..');
const SAMPLE = join(REPO, 'test', 'fixtures', 'wdbc-sample.csv');
const COHORT = join(REPO, 'cohorts', 'wdbc', 'wdbc.csv');

/** AUROC by counting all (malignant, benign) pairs; ties count one half. Independent of src/metrics. */
function pairCountAuroc(scores: readonly number[], labels: readonly number[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((si, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((sj, j) => {
      if (labels[j] !== 0) return;
      pairs++;
      wins += si > sj ? 1 : si === sj ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

// Jest runs each spec in its own vm realm, and onnxruntime-common's `data instanceof Float32Array` check rejects
// the output arrays that the native binding allocates in Node's main realm. Inference therefore runs in a plain
// Node child process; creating sessions and reading their metadata works in-realm and is tested there.
const ORT_CHILD = `
const ort = require('onnxruntime-node');
const fs = require('fs');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const { modelPath, rows, width } = JSON.parse(input);
  const session = await ort.InferenceSession.create(fs.readFileSync(modelPath));
  const data = Float32Array.from(rows.flat());
  const out = await session.run({ input: new ort.Tensor('float32', data, [rows.length, width]) });
  process.stdout.write(JSON.stringify({ dims: out.probability.dims, values: Array.from(out.probability.data) }));
});
`;

function runOrt(modelPath: string, cases: readonly WdbcCase[]): Promise<{ dims: number[]; values: number[] }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', ORT_CHILD], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout) as { dims: number[]; values: number[] });
    });
    child.stdin?.end(JSON.stringify({ modelPath, rows: cases.map((c) => c.features), width: WDBC_FEATURES.length }));
  });
}

describe('buildReferenceModels', () => {
  let outDir: string;
  let built: BuildReferenceModelsResult;
  let cohort: WdbcCase[];
  let sampleIds: Set<string>;
  let heldOut: WdbcCase[];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'assay-reference-models-'));
    built = await buildReferenceModels({ sampleCsv: SAMPLE, outDir });
    cohort = parseCohortCsv(await readFile(COHORT, 'utf8'));
    const sampleLines = (await readFile(SAMPLE, 'utf8')).trim().split('\n').slice(1);
    sampleIds = new Set(sampleLines.map((line) => line.split(',')[0] ?? ''));
    heldOut = cohort.filter((c) => !sampleIds.has(c.caseId));
  });

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('writes model.onnx and manifest.json for both models', async () => {
    expect(built.logreg.modelPath).toBe(join(outDir, 'logreg', 'model.onnx'));
    expect(built.baseline.manifestPath).toBe(join(outDir, 'baseline', 'manifest.json'));
    for (const model of [built.logreg, built.baseline]) {
      const manifest: unknown = JSON.parse(await readFile(model.manifestPath, 'utf8'));
      expect(manifest).toEqual({
        name: model.manifest.name,
        version: '1.0.0',
        description: expect.stringContaining('n=20 (8 malignant, 12 benign)') as unknown,
        inputs: { features: 'input' },
        outputs: { probability: 'probability' },
      });
    }
    expect(built.logreg.manifest.name).toBe('wdbc-logreg');
    expect(built.baseline.manifest.name).toBe('wdbc-baseline');
  });

  it('encodes ir_version 8, opset 13, producer and doc string, float32 [batch,*] input and [batch,1] output', async () => {
    for (const model of [built.logreg, built.baseline]) {
      const proto = onnx.ModelProto.decode(await readFile(model.modelPath));
      expect(Number(proto.irVersion)).toBe(8);
      expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
      expect(proto.producerName).toBe('assay-reference-models');
      expect(proto.docString).toContain('lambda=1');
      const shape = (v: onnx.IValueInfoProto | undefined): (string | number)[] =>
        (v?.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
      expect(proto.graph?.input?.map((v) => v.name)).toEqual(['input']);
      expect(shape(proto.graph?.input?.[0])).toEqual(['batch', 30]);
      expect(proto.graph?.output?.map((v) => v.name)).toEqual(['probability']);
      expect(shape(proto.graph?.output?.[0])).toEqual(['batch', 1]);
      expect(proto.graph?.input?.[0]?.type?.tensorType?.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
      for (const init of proto.graph?.initializer ?? []) expect(init.rawData?.length ?? 0).toBeGreaterThan(0);
    }
    const full = onnx.ModelProto.decode(await readFile(built.logreg.modelPath));
    expect(full.graph?.node?.map((n) => n.opType)).toEqual(['Sub', 'Div', 'MatMul', 'Add', 'Sigmoid']);
    const baseline = onnx.ModelProto.decode(await readFile(built.baseline.modelPath));
    expect(baseline.graph?.node?.map((n) => n.opType)).toEqual(['Gather', 'Sub', 'Div', 'Mul', 'Add', 'Sigmoid']);
    expect(baseline.docString).toContain(BASELINE_FEATURE);
  });

  it('loads in onnxruntime-node with the declared names and shapes', async () => {
    for (const model of [built.logreg, built.baseline]) {
      const session = await InferenceSession.create(await readFile(model.modelPath));
      try {
        expect(session.inputNames).toEqual(['input']);
        expect(session.outputNames).toEqual(['probability']);
        const [input] = session.inputMetadata;
        const [output] = session.outputMetadata;
        expect(input?.isTensor && input.type).toBe('float32');
        expect(input?.isTensor && input.shape).toEqual(['batch', 30]);
        expect(output?.isTensor && output.shape).toEqual(['batch', 1]);
      } finally {
        await session.release();
      }
    }
  });

  it("matches the TypeScript model's probabilities on all 569 WDBC cases within 1e-5", async () => {
    expect(cohort).toHaveLength(569);
    const featureIndex = WDBC_FEATURES.indexOf(BASELINE_FEATURE);
    const cases: [typeof built.logreg, (c: WdbcCase) => number[]][] = [
      [built.logreg, (c) => [...c.features]],
      [built.baseline, (c) => [c.features[featureIndex] ?? Number.NaN]],
    ];
    for (const [model, select] of cases) {
      const { dims, values } = await runOrt(model.modelPath, cohort);
      expect(dims).toEqual([569, 1]);
      const expected = cohort.map((c) => predictProbability(model.fit, select(c)));
      const worst = Math.max(...values.map((v, i) => Math.abs(v - (expected[i] ?? Number.NaN))));
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('reaches AUROC > 0.9 on the non-sample cases; the baseline is worse but > 0.75', async () => {
    expect(sampleIds.size).toBe(20);
    expect(heldOut).toHaveLength(549);
    const labels = heldOut.map((c) => c.label);
    const full = pairCountAuroc((await runOrt(built.logreg.modelPath, heldOut)).values, labels);
    const baseline = pairCountAuroc((await runOrt(built.baseline.modelPath, heldOut)).values, labels);
    expect(full).toBeGreaterThan(0.9);
    expect(baseline).toBeGreaterThan(0.75);
    expect(baseline).toBeLessThan(full);
  });

  it('is deterministic: rebuilding gives identical bytes', async () => {
    const again = await mkdtemp(join(tmpdir(), 'assay-reference-models-'));
    try {
      await buildReferenceModels({ sampleCsv: SAMPLE, outDir: again });
      for (const name of ['logreg', 'baseline']) {
        expect(await readFile(join(again, name, 'model.onnx'))).toEqual(await readFile(join(outDir, name, 'model.onnx')));
      }
    } finally {
      await rm(again, { recursive: true, force: true });
    }
  });
});

describe('build CLI', () => {
  let dir: string;
  let stderr: string;
  let stdout: string;
  let spies: jest.SpyInstance[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'assay-reference-models-cli-'));
    stderr = '';
    stdout = '';
    spies = [
      jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      }),
      jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stdout += String(chunk);
        return true;
      }),
    ];
  });

  afterEach(async () => {
    spies.forEach((s) => s.mockRestore());
    await rm(dir, { recursive: true, force: true });
  });

  it('builds both models', async () => {
    expect(await main(['--sample', SAMPLE, '--out', dir])).toBe(0);
    expect(stdout).toContain(join(dir, 'logreg', 'model.onnx'));
    expect(stdout).toContain(join(dir, 'baseline', 'model.onnx'));
  });

  it('requires --sample and --out and rejects unknown flags', async () => {
    expect(await main(['--out', dir])).toBe(2);
    expect(stderr).toContain('--sample and --out are required');
    expect(await main(['--sample', SAMPLE, '--out', dir, '--bogus'])).toBe(2);
    expect(await main(['--sample', SAMPLE, '--out', dir, '--lambda', 'abc'])).toBe(2);
  });

  it('reports an invalid sample CSV with file and line', async () => {
    const bad = join(dir, 'bad.csv');
    const text = await readFile(SAMPLE, 'utf8');
    await writeFile(bad, text.replace(/^(WDBC-\d+),1,/m, '$1,M,'));
    expect(await main(['--sample', bad, '--out', dir])).toBe(1);
    expect(stderr).toMatch(/bad\.csv:\d+: label is "M", expected 0 or 1/);
  });
});
