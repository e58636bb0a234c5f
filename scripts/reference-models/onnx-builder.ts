// Builds ONNX ModelProto bytes for fitted logistic regressions with onnx-proto's protobuf encoders.
// IR version 8, default-domain opset 13. All float parameters are float32 raw-data initializers (little-endian);
// onnxruntime evaluates the graph in float32, so its probabilities match a float64 evaluation of the same fit to
// well within 1e-5.

import { onnx } from 'onnx-proto';
import { LogisticRegressionModel } from './logistic-regression';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;
export const PRODUCER_NAME = 'assay-reference-models';
export const PRODUCER_VERSION = '1.0.0';
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probability';
export const BATCH_DIM = 'batch';

export interface OnnxModelMetadata {
  /** Graph name, e.g. "wdbc-logreg". */
  readonly graphName: string;
  /** Model doc_string: how the model was fitted. */
  readonly docString: string;
}

export class OnnxBuildError extends Error {
  readonly code = 'onnx_build_failed';
  constructor(message: string) {
    super(message);
    this.name = 'OnnxBuildError';
  }
}

export function float32Tensor(name: string, dims: readonly number[], values: readonly number[]): onnx.ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) throw new OnnxBuildError(`${name}: ${values.length} values for dims [${dims.join(',')}]`);
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new OnnxBuildError(`${name}[${i}] is not finite`);
    view.setFloat32(i * 4, v, true);
  });
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes };
}

function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): onnx.ITensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes };
}

/** float32 tensor value info; a string dimension is symbolic (dim_param), a number fixed (dim_value). */
export function floatValueInfo(name: string, shape: readonly (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export function node(opType: string, inputs: string[], outputs: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto {
  return { opType, input: inputs, output: outputs, name: `${opType.toLowerCase()}_${outputs[0] ?? ''}`, attribute };
}

function encodeModel(
  metadata: OnnxModelMetadata,
  nodes: onnx.INodeProto[],
  initializers: onnx.ITensorProto[],
  featureCount: number,
): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    modelVersion: 1,
    docString: metadata.docString,
    graph: {
      name: metadata.graphName,
      node: nodes,
      initializer: initializers,
      input: [floatValueInfo(INPUT_NAME, [BATCH_DIM, featureCount])],
      output: [floatValueInfo(OUTPUT_NAME, [BATCH_DIM, 1])],
    },
  };
  const problem = onnx.ModelProto.verify(model);
  if (problem !== null) throw new OnnxBuildError(`invalid ModelProto: ${problem}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/**
 * Full model: input [batch, p] -> Sub(mean) -> Div(std) -> MatMul(W [p,1]) -> Add(b [1]) -> Sigmoid
 * -> probability [batch, 1].
 */
export function buildFullLogisticRegressionOnnx(model: LogisticRegressionModel, metadata: OnnxModelMetadata): Uint8Array {
  const p = model.weights.length;
  if (p === 0) throw new OnnxBuildError('model has no features');
  return encodeModel(
    metadata,
    [
      node('Sub', [INPUT_NAME, 'mean'], ['centred']),
      node('Div', ['centred', 'std'], ['standardised']),
      node('MatMul', ['standardised', 'weights'], ['weighted']),
      node('Add', ['weighted', 'intercept'], ['logit']),
      node('Sigmoid', ['logit'], [OUTPUT_NAME]),
    ],
    [
      float32Tensor('mean', [p], model.mean),
      float32Tensor('std', [p], model.std),
      float32Tensor('weights', [p, 1], model.weights),
      float32Tensor('intercept', [1], [model.intercept]),
    ],
    p,
  );
}

/**
 * Single-feature model over the full input: input [batch, featureCount] -> Gather(axis=1, indices [1]) gives
 * [batch, 1] (a rank-1 index keeps the axis) -> Sub(mean) -> Div(std) -> Mul(w) -> Add(b) -> Sigmoid
 * -> probability [batch, 1]. `model` must be a one-feature fit of column `featureIndex`.
 */
export function buildSingleFeatureLogisticRegressionOnnx(
  model: LogisticRegressionModel,
  featureIndex: number,
  featureCount: number,
  metadata: OnnxModelMetadata,
): Uint8Array {
  if (model.weights.length !== 1) throw new OnnxBuildError(`expected a one-feature fit, got ${model.weights.length}`);
  if (!Number.isInteger(featureIndex) || featureIndex < 0 || featureIndex >= featureCount) {
    throw new OnnxBuildError(`feature index ${featureIndex} outside [0, ${featureCount})`);
  }
  return encodeModel(
    metadata,
    [
      node('Gather', [INPUT_NAME, 'feature_index'], ['feature'], [
        { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
      ]),
      node('Sub', ['feature', 'mean'], ['centred']),
      node('Div', ['centred', 'std'], ['standardised']),
      node('Mul', ['standardised', 'weight'], ['weighted']),
      node('Add', ['weighted', 'intercept'], ['logit']),
      node('Sigmoid', ['logit'], [OUTPUT_NAME]),
    ],
    [
      int64Tensor('feature_index', [1], [featureIndex]),
      float32Tensor('mean', [1], model.mean),
      float32Tensor('std', [1], model.std),
      float32Tensor('weight', [1], model.weights),
      float32Tensor('intercept', [1], [model.intercept]),
    ],
    featureCount,
  );
}
