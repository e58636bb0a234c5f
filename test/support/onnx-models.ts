import { onnx } from 'onnx-proto';

/** Small hand-made ONNX models for tests that need a model to misbehave in one precise way. */
function f32(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: values };
}

function io(name: string, shape: (number | string)[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } };
}

function encode(nodes: onnx.INodeProto[], initializers: onnx.ITensorProto[], input: { name: string; shape: (number | string)[] }, output: { name: string; shape: (number | string)[] }): Buffer {
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'assay-tests',
    graph: { name: 'test', node: nodes, initializer: initializers, input: [io(input.name, input.shape)], output: [io(output.name, output.shape)] },
  };
  return Buffer.from(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}

/** Sum of the features, no sigmoid: "probabilities" far outside [0, 1]. */
export function rawScoreModel(features = 30): Buffer {
  return encode(
    [{ opType: 'MatMul', input: ['input', 'w'], output: ['probability'] }],
    [f32('w', [features, 1], Array.from({ length: features }, () => 1))],
    { name: 'input', shape: ['batch', features] },
    { name: 'probability', shape: ['batch', 1] },
  );
}

/** (x − x) / (x − x) = 0/0: NaN for every case. */
export function nanModel(features = 30): Buffer {
  return encode(
    [
      { opType: 'MatMul', input: ['input', 'w'], output: ['s'] },
      { opType: 'Sub', input: ['s', 's'], output: ['z'] },
      { opType: 'Div', input: ['z', 'z'], output: ['probability'] },
    ],
    [f32('w', [features, 1], Array.from({ length: features }, () => 1))],
    { name: 'input', shape: ['batch', features] },
    { name: 'probability', shape: ['batch', 1] },
  );
}

/** A valid model whose input has the wrong width. */
export function wrongWidthModel(features = 31): Buffer {
  return encode(
    [{ opType: 'MatMul', input: ['input', 'w'], output: ['probability'] }],
    [f32('w', [features, 1], Array.from({ length: features }, () => 0))],
    { name: 'input', shape: ['batch', features] },
    { name: 'probability', shape: ['batch', 1] },
  );
}

export const MANIFEST = (name: string, tensors: { input?: string; output?: string } = {}): string =>
  JSON.stringify({ name, version: '1.0.0', inputs: { features: tensors.input ?? 'input' }, outputs: { probability: tensors.output ?? 'probability' } });

/** A linear risk score w·x with missing inputs (NaN) imputed as 0 inside the graph: IsNaN → Where → MatMul. */
export function linearRiskModel(weights: number[]): Buffer {
  const p = weights.length;
  return encode(
    [
      { opType: 'IsNaN', input: ['input'], output: ['missing'] },
      { opType: 'Where', input: ['missing', 'zero', 'input'], output: ['filled'] },
      { opType: 'MatMul', input: ['filled', 'w'], output: ['risk'] },
    ],
    [f32('w', [p, 1], weights), f32('zero', [1], [0])],
    { name: 'input', shape: ['batch', p] },
    { name: 'risk', shape: ['batch', 1] },
  );
}

export const RISK_MANIFEST = (name: string): string => JSON.stringify({ name, version: '1.0.0', inputs: { features: 'input' }, outputs: { risk: 'risk' } });
