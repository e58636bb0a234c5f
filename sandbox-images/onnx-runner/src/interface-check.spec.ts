// The one interface check (interface-check.js): its problems on synthetic signatures, and the proof that it is one
// check: the worker's static reading (the protobuf, src/submissions/onnx-inspect.ts) and the runner's reading
// (onnxruntime's metadata, `node runner.js check` outside Docker) report the same problems, word for word.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectOnnx, interfaceProblems as staticProblems } from '../../../src/submissions/onnx-inspect';
import type { OnnxModelManifest } from '../../../src/submissions/submissions.entity';
import { type ModelSignature, interfaceProblems } from './interface-check';

const IFACE = { inputs: [{ name: 'features', kind: 'vector' as const, length: 30, dtype: 'float32' as const }], outputs: [{ name: 'probability', kind: 'probability' as const }] };
const MAPPING = { inputs: { features: 'input' }, outputs: { probability: 'probability' } };
const sig = (input: Partial<ModelSignature['inputs'][number]> = {}, output: Partial<ModelSignature['outputs'][number]> = {}): ModelSignature => ({
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 30], ...input }],
  outputs: [{ name: 'probability', type: 'float32', shape: ['N', 1], ...output }],
});

describe('interfaceProblems', () => {
  it('accepts a fitting signature with dynamic or fixed batch dimensions', () => {
    for (const batch of ['N', -1, null, '?', 1, 64]) expect(interfaceProblems(sig({ shape: [batch, 30] }, { shape: [batch] }), MAPPING, IFACE)).toEqual([]);
    expect(interfaceProblems(sig({}, { shape: [] }), MAPPING, IFACE)).toEqual([]); // no shape inference: predict checks
    expect(interfaceProblems(sig({}, { shape: ['N', 2], type: 'float64' }), MAPPING, IFACE)).toEqual([]);
  });

  it('names each input problem', () => {
    expect(interfaceProblems(sig({ shape: ['N', 31] }), MAPPING, IFACE)).toEqual(["input 'input': last dimension 31, expected 30"]);
    expect(interfaceProblems(sig({ shape: [0, 30] }), MAPPING, IFACE)).toEqual(["input 'input': batch dimension 0, expected a dynamic one or at least 1"]);
    expect(interfaceProblems(sig({ shape: [30] }), MAPPING, IFACE)).toEqual(["input 'input': rank 1 [30], expected [batch, 30]"]);
    expect(interfaceProblems(sig({ type: 'int64' }), MAPPING, IFACE)).toEqual(["input 'input': element type int64, expected float32"]);
    expect(interfaceProblems(sig({ isTensor: false }), MAPPING, IFACE)).toEqual(["input 'input': not a tensor"]);
    expect(interfaceProblems(sig(), { ...MAPPING, inputs: {} }, IFACE)).toEqual([
      "manifest.inputs.features: missing (which model input receives 'features'?)",
      "input 'input': the model needs it but the manifest maps no benchmark input to it",
    ]);
    expect(interfaceProblems(sig(), { ...MAPPING, inputs: { features: 'x' } }, IFACE)).toEqual([
      "manifest.inputs.features: the model has no input 'x' (it has: input)",
      "input 'input': the model needs it but the manifest maps no benchmark input to it",
    ]);
    expect(interfaceProblems(sig(), { ...MAPPING, inputs: { features: 'input', age: 'input' } }, IFACE)).toEqual(["manifest.inputs.age: the benchmark has no input 'age'"]);
  });

  it('names each output problem', () => {
    expect(interfaceProblems(sig({}, { shape: ['N', 3] }), MAPPING, IFACE)).toEqual(["output 'probability': shape [N, 3], expected [batch], [batch, 1] or [batch, 2]"]);
    expect(interfaceProblems(sig({}, { shape: ['N', 1, 1] }), MAPPING, IFACE)).toEqual(["output 'probability': shape [N, 1, 1], expected [batch], [batch, 1] or [batch, 2]"]);
    expect(interfaceProblems(sig({}, { type: 'int64' }), MAPPING, IFACE)).toEqual(["output 'probability': element type int64, expected float32 or float64"]);
    expect(interfaceProblems(sig({}, { isTensor: false }), MAPPING, IFACE)).toEqual(["output 'probability': not a tensor"]);
    expect(interfaceProblems(sig(), { ...MAPPING, outputs: {} }, IFACE)).toEqual(["manifest.outputs.probability: missing (which model output is 'probability'?)"]);
    expect(interfaceProblems(sig(), { ...MAPPING, outputs: { probability: 'logits' } }, IFACE)).toEqual(["manifest.outputs.probability: the model has no output 'logits' (it has: probability)"]);
  });
});

describe('one check: the static reading and the runner agree', () => {
  const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'onnx');
  const RUNNER = join(__dirname, 'runner.js');
  const TMP = mkdtempSync(join(tmpdir(), 'assay-interface-check-'));
  afterAll(() => rmSync(TMP, { recursive: true, force: true }));
  let n = 0;

  /** `node runner.js check` with onnxruntime-node on the CPU: the problems of its check.json. */
  function runnerProblems(model: Buffer, manifest: OnnxModelManifest): string[] {
    const dir = join(TMP, String(n++));
    const [input, modelDir, output] = ['input', 'model', 'output'].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [input, modelDir, output]) mkdirSync(d, { recursive: true });
    writeFileSync(join(input, 'manifest.json'), JSON.stringify({ benchmark: 'wdbc-malignancy', task: 'binary', interface: IFACE, cases: [] }));
    writeFileSync(join(modelDir, 'model.onnx'), model);
    writeFileSync(join(modelDir, 'manifest.json'), JSON.stringify(manifest));
    const r = spawnSync(process.execPath, [RUNNER, 'check'], { env: { ...process.env, ASSAY_INPUT_DIR: input, ASSAY_MODEL_DIR: modelDir, ASSAY_OUTPUT_DIR: output }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`runner check exited ${r.status}: ${r.stderr}`);
    return (JSON.parse(readFileSync(join(output, 'check.json'), 'utf8')) as { problems: string[] }).problems;
  }

  const manifest = (inputs: Record<string, string>, outputs: Record<string, string>): OnnxModelManifest => ({ name: 'm', version: '1', inputs, outputs });
  it.each([
    ['logreg30.onnx', manifest({ features: 'input' }, { probability: 'probability' }), 0],
    ['logreg31.onnx', manifest({ features: 'input' }, { probability: 'probability' }), 1],
    ['logreg30.onnx', manifest({ features: 'x' }, { probability: 'logits' }), 3],
    ['logreg31.onnx', manifest({ features: 'input', extra: 'input' }, {}), 3],
  ])('%s with %j', (file, m, count) => {
    const model = readFileSync(join(FIXTURES, file));
    const fromProtobuf = staticProblems(inspectOnnx(model), m, IFACE);
    expect(fromProtobuf).toHaveLength(count);
    expect(runnerProblems(model, m)).toEqual(fromProtobuf);
  }, 30_000);
});
