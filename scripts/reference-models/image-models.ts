// Example image models for the ONNX runner's image inputs (sandbox-images/README.md, "Image models"): a lesion
// segmentation model and a lesion detection model made of fixed convolutions, no training. They find the bright
// lesions of the synthetic CT phantoms (soft tissue and organs ~40–60 HU, lesions +15..+80 HU above them): the runner
// windows the CT to [0, 1], the model smooths it with box filters and puts a steep sigmoid on (smoothed − t), t being
// the windowed value of `thresholdHu`. Smoothing first suppresses voxel noise; the detection model smooths more, so
// each lesion's response peaks at its centre. Spatial dimensions are free (dim_param), so the runner may tile.
//
// Usage (after `npx tsc -p tsconfig.build.json`):
//   node dist/scripts/reference-models/build-image-models.js --out <dir>

import { onnx } from 'onnx-proto';
import { float32Tensor, floatValueInfo, node, ONNX_IR_VERSION, ONNX_OPSET, OnnxBuildError, PRODUCER_NAME, PRODUCER_VERSION } from './onnx-builder';

export interface SmoothThresholdGraph {
  readonly graphName: string;
  readonly docString: string;
  /** NCDHW: input [1, 1, d, h, w]; NCHW: input [1, inputChannels, h, w] (2.5-D: the slice and its neighbours). */
  readonly layout: 'NCDHW' | 'NCHW';
  readonly inputChannels?: number;
  /** Box filter edge (odd), applied `passes` times with zero padding ("same" size). 0 passes = pointwise. */
  readonly kernel: number;
  readonly passes: number;
  /** logit = (smoothed − offset) · gain; probability = sigmoid(logit). */
  readonly offset: number;
  readonly gain: number;
  /** Band-pass: probability ·= sigmoid((upperOffset − smoothed) · gain), so bone and contrast-filled vessels are not lesions. */
  readonly upperOffset?: number;
  /**
   * Rims of bright structures: probability ·= 1 − MaxPool_k(sigmoid((x − offset) · gain)) on the unsmoothed input, so
   * the partial-volume edges of bone and vessels (which smoothing pulls into the lesion band) are not lesions.
   */
  readonly brightGate?: { readonly offset: number; readonly gain: number; readonly kernel: number };
  /** true: output [1, 2, …] = (1 − p, p), background first; false: [1, 1, …] = p. */
  readonly twoChannel: boolean;
  readonly inputName: string;
  readonly outputName: string;
}

const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

/** Box filter(s), then sigmoid((x − offset) · gain), as an ONNX ModelProto (IR 8, opset 13). */
export function buildSmoothThresholdOnnx(g: SmoothThresholdGraph): Uint8Array {
  if (g.kernel < 1 || g.kernel % 2 !== 1) throw new OnnxBuildError(`kernel ${g.kernel} must be odd and positive`);
  const spatial = g.layout === 'NCDHW' ? 3 : 2;
  const cin = g.layout === 'NCDHW' ? 1 : (g.inputChannels ?? 1);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let x = g.inputName;
  for (let p = 0; p < g.passes; p++) {
    // The first pass of a 2.5-D model averages across its input channels too (the neighbouring slices).
    const c = p === 0 ? cin : 1;
    const dims = [1, c, ...Array.from({ length: spatial }, () => g.kernel)];
    const n = dims.reduce((a, b) => a * b, 1);
    inits.push(float32Tensor(`box${p}`, dims, Array.from({ length: n }, () => 1 / n)));
    const half = (g.kernel - 1) / 2;
    nodes.push(
      node('Conv', [x, `box${p}`], [`smooth${p}`], [
        { name: 'kernel_shape', type: INTS, ints: Array.from({ length: spatial }, () => g.kernel) },
        { name: 'pads', type: INTS, ints: Array.from({ length: 2 * spatial }, () => half) },
      ]),
    );
    x = `smooth${p}`;
  }
  if (g.passes === 0 && cin !== 1) throw new OnnxBuildError('a pointwise model takes one input channel');
  inits.push(float32Tensor('offset', [1], [g.offset]), float32Tensor('gain', [1], [g.gain]));
  nodes.push(node('Sub', [x, 'offset'], ['centred']), node('Mul', ['centred', 'gain'], ['logit']));
  let probability = 'lower';
  if (g.brightGate && g.upperOffset === undefined) throw new OnnxBuildError('the bright gate applies to a band-pass model (set upperOffset)');
  if (g.upperOffset !== undefined) {
    inits.push(float32Tensor('upper', [1], [g.upperOffset]));
    nodes.push(
      node('Sigmoid', ['logit'], ['lower']),
      node('Sub', ['upper', x], ['below']),
      node('Mul', ['below', 'gain'], ['logit_upper']),
      node('Sigmoid', ['logit_upper'], ['upper_gate']),
      node('Mul', ['lower', 'upper_gate'], ['band']),
    );
    probability = 'band';
  }
  if (g.brightGate) {
    const b = g.brightGate;
    if (b.kernel < 1 || b.kernel % 2 !== 1) throw new OnnxBuildError(`bright gate kernel ${b.kernel} must be odd and positive`);
    inits.push(float32Tensor('bright_offset', [1], [b.offset]), float32Tensor('bright_gain', [1], [b.gain]), float32Tensor('gate_one', [1], [1]));
    nodes.push(
      node('Sub', [g.inputName, 'bright_offset'], ['bright_centred']),
      node('Mul', ['bright_centred', 'bright_gain'], ['bright_logit']),
      node('Sigmoid', ['bright_logit'], ['bright']),
      node('MaxPool', ['bright'], ['bright_near'], [
        { name: 'kernel_shape', type: INTS, ints: Array.from({ length: spatial }, () => b.kernel) },
        { name: 'pads', type: INTS, ints: Array.from({ length: 2 * spatial }, () => (b.kernel - 1) / 2) },
      ]),
      node('Sub', ['gate_one', 'bright_near'], ['not_bright']),
      node('Mul', [probability, 'not_bright'], ['gated']),
    );
    probability = 'gated';
  }
  const spatialDims = g.layout === 'NCDHW' ? ['d', 'h', 'w'] : ['h', 'w'];
  const foreground = g.upperOffset !== undefined ? probability : 'foreground';
  if (g.upperOffset === undefined) nodes.push(node('Sigmoid', ['logit'], [g.twoChannel ? 'foreground' : g.outputName]));
  if (g.twoChannel) {
    inits.push(float32Tensor('one', [1], [1]));
    nodes.push(
      node('Sub', ['one', foreground], ['background']),
      node('Concat', ['background', foreground], [g.outputName], [{ name: 'axis', type: INT, i: 1 }]),
    );
  } else if (g.upperOffset !== undefined) {
    nodes.push(node('Identity', [probability], [g.outputName]));
  }
  const model: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    modelVersion: 1,
    docString: g.docString,
    graph: {
      name: g.graphName,
      node: nodes,
      initializer: inits,
      input: [floatValueInfo(g.inputName, [1, cin, ...spatialDims])],
      output: [floatValueInfo(g.outputName, [1, g.twoChannel ? 2 : 1, ...spatialDims])],
    },
  };
  const problem = onnx.ModelProto.verify(model);
  if (problem !== null) throw new OnnxBuildError(`invalid ModelProto: ${problem}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The runner's manifest for an image model (sandbox-images/README.md). */
export interface ImageModelManifest {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly inputs: Record<string, string>;
  readonly outputs: Record<string, string>;
  readonly layout: 'NCDHW' | 'NCHW';
  readonly contextSlices?: number;
  readonly preprocessing?: Record<string, unknown>;
  readonly resample?: { spacing: [number, number, number] };
  readonly tiling?: { size: [number, number, number]; overlap: number; blend: 'gaussian' | 'constant' };
  readonly output: Record<string, unknown>;
}

export interface BuiltImageModel {
  readonly onnx: Uint8Array;
  readonly manifest: ImageModelManifest;
}

/** CT window of both examples: [-60, 180] HU -> [0, 1]. Soft tissue (40–60 HU) sits at 0.42–0.5. */
export const LESION_WINDOW = { center: 60, width: 240 } as const;
/** Lesions are at least +15 HU over 40–60 HU tissue; the cut between the two. */
export const LESION_THRESHOLD_HU = 78;
/** Lesions stay below ~140 HU; contrast-filled vessels (~180 HU) and bone (~700 HU, clipped by the window) above. */
export const LESION_UPPER_HU = 155;
/** Voxels brighter than this (vessels, bone) and their 3×3×3 neighbourhood are never lesion. */
export const BRIGHT_HU = 170;
export const IMAGE_MODEL_VERSION = '1.0.0';

const windowed = (hu: number): number => (hu - (LESION_WINDOW.center - LESION_WINDOW.width / 2)) / LESION_WINDOW.width;

/**
 * Segmentation: two 3×3×3 box passes, sigmoid((s − t) · 40) with t = windowed LESION_THRESHOLD_HU (a 12 HU step moves the
 * logit by 2), times a band-pass upper cut (LESION_UPPER_HU) and a gate off the 3×3×3 neighbourhood of anything brighter
 * than BRIGHT_HU (the smoothed rims of bone and vessels fall in the lesion band otherwise; on the shipped phantoms the
 * gate lifts a numpy simulation of this model from mean Dice 0.22 to 0.34). Two channels (background, lesion). Tiled
 * 64³ with half overlap and Gaussian blending. An example, not a good model: it misses low-contrast lesions.
 */
export function lesionSegmentationModel(): BuiltImageModel {
  const onnxBytes = buildSmoothThresholdOnnx({
    graphName: 'lesion-seg-box3x2',
    docString: `Example lesion segmentation: two 3x3x3 box filters on the windowed CT, then sigmoid((s - ${windowed(LESION_THRESHOLD_HU)}) * 40) * sigmoid((${windowed(LESION_UPPER_HU)} - s) * 40): lesion where the smoothed CT lies between ${LESION_THRESHOLD_HU} and ${LESION_UPPER_HU} HU and no voxel of the 3x3x3 neighbourhood exceeds ${BRIGHT_HU} HU. Fixed weights, no training.`,
    layout: 'NCDHW',
    kernel: 3,
    passes: 2,
    offset: windowed(LESION_THRESHOLD_HU),
    upperOffset: windowed(LESION_UPPER_HU),
    brightGate: { offset: windowed(BRIGHT_HU), gain: 200, kernel: 3 },
    gain: 40,
    twoChannel: true,
    inputName: 'image',
    outputName: 'probabilities',
  });
  return {
    onnx: onnxBytes,
    manifest: {
      name: 'lesion-seg-example',
      version: IMAGE_MODEL_VERSION,
      description: 'Fixed-convolution lesion segmentation (scripts/reference-models/image-models.ts)',
      inputs: { ct: 'image' },
      outputs: { mask: 'probabilities' },
      layout: 'NCDHW',
      preprocessing: { window: { ...LESION_WINDOW } },
      tiling: { size: [64, 64, 64], overlap: 0.5, blend: 'gaussian' },
      output: { kind: 'probabilities', channel: 1, threshold: 0.5 },
    },
  };
}

/**
 * Detection: two 5×5×5 box passes (a lesion's response peaks at its centre), sigmoid((s − t) · 40), one channel,
 * read as a heatmap: each connected region above 0.5 is one lesion at its weighted centre.
 */
export function lesionDetectionModel(): BuiltImageModel {
  const onnxBytes = buildSmoothThresholdOnnx({
    graphName: 'lesion-det-box5x2',
    docString: `Example lesion detection heatmap: two 5x5x5 box filters on the windowed CT, then sigmoid((s - ${windowed(LESION_THRESHOLD_HU)}) * 40) * sigmoid((${windowed(LESION_UPPER_HU)} - s) * 40). Fixed weights, no training.`,
    layout: 'NCDHW',
    kernel: 5,
    passes: 2,
    offset: windowed(LESION_THRESHOLD_HU),
    upperOffset: windowed(LESION_UPPER_HU),
    gain: 40,
    twoChannel: false,
    inputName: 'image',
    outputName: 'heatmap',
  });
  return {
    onnx: onnxBytes,
    manifest: {
      name: 'lesion-det-example',
      version: IMAGE_MODEL_VERSION,
      description: 'Fixed-convolution lesion detection heatmap (scripts/reference-models/image-models.ts)',
      inputs: { ct: 'image' },
      outputs: { detections: 'heatmap' },
      layout: 'NCDHW',
      preprocessing: { window: { ...LESION_WINDOW } },
      tiling: { size: [64, 64, 64], overlap: 0.5, blend: 'gaussian' },
      output: { kind: 'heatmap', threshold: 0.5, minDistanceMm: 10, method: 'components' },
    },
  };
}
