import { onnx } from 'onnx-proto';
import type { AlgorithmInterfaceDto } from '../benchmarks/benchmark-definition';
import type { OnnxModelManifest } from './submissions.entity';

export interface OnnxTensorInfo {
  name: string;
  elemType: string;
  shape: (number | string)[];
}

export interface OnnxInspection {
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  opset: number | null;
  irVersion: number;
  producer: string;
}

const ELEM_TYPE_NAMES: Record<number, string> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64', 9: 'bool', 8: 'string' };

/**
 * Reads the graph signature from the protobuf without running anything. The API uses it to reject files that are not
 * ONNX models or whose tensors do not fit the benchmark, before any sandbox time is spent; the authoritative check
 * (the model loads in onnxruntime) happens in the sandbox.
 */
export function inspectOnnx(bytes: Buffer): OnnxInspection {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new Error(`not an ONNX model: ${(error as Error).message}`);
  }
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0 || (graph.input ?? []).length === 0) throw new Error('not an ONNX model: no graph with nodes and inputs');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const tensor = (v: onnx.IValueInfoProto): OnnxTensorInfo => {
    const t = v.type?.tensorType;
    const dims = t?.shape?.dim ?? [];
    return {
      name: v.name ?? '',
      elemType: ELEM_TYPE_NAMES[t?.elemType ?? 0] ?? `type#${t?.elemType ?? 0}`,
      shape: dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : '?')),
    };
  };
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return {
    inputs: (graph.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(tensor),
    outputs: (graph.output ?? []).map(tensor),
    opset: opset === undefined || opset === null ? null : Number(opset),
    irVersion: Number(model.irVersion ?? 0),
    producer: model.producerName ?? '',
  };
}

/** Problems with how the model's signature fits the benchmark interface, each naming the tensor. */
export function interfaceProblems(inspection: OnnxInspection, manifest: OnnxModelManifest, iface: AlgorithmInterfaceDto): string[] {
  const problems: string[] = [];
  for (const input of iface.inputs) {
    const tensorName = manifest.inputs[input.name];
    if (!tensorName) {
      problems.push(`manifest.inputs.${input.name}: missing (which model input receives '${input.name}'?)`);
      continue;
    }
    const t = inspection.inputs.find((x) => x.name === tensorName);
    if (!t) {
      problems.push(`manifest.inputs.${input.name}: the model has no input '${tensorName}' (it has: ${inspection.inputs.map((x) => x.name).join(', ')})`);
      continue;
    }
    if (t.elemType !== 'float32') problems.push(`input '${tensorName}': element type ${t.elemType}, expected float32`);
    // Image models: [N, C, D, H, W] (NCDHW) or [N, C, H, W] (NCHW per slice); the runner's own check, in the
    // sandbox, compares the manifest's layout, tiling and preprocessing with the model (imaging/index.js).
    if (input.kind === 'volume') {
      if (t.shape.length !== 4 && t.shape.length !== 5) problems.push(`input '${tensorName}': rank ${t.shape.length} [${t.shape.join(', ')}], expected [N, C, D, H, W] or [N, C, H, W] for a volume`);
      continue;
    }
    if (t.shape.length !== 2) problems.push(`input '${tensorName}': rank ${t.shape.length} [${t.shape.join(', ')}], expected [batch, ${input.length}]`);
    else if (typeof t.shape[1] === 'number' && t.shape[1] !== input.length) {
      problems.push(`input '${tensorName}': last dimension ${t.shape[1]}, expected ${input.length}`);
    }
  }
  for (const output of iface.outputs) {
    const tensorName = manifest.outputs[output.name];
    if (!tensorName) {
      problems.push(`manifest.outputs.${output.name}: missing (which model output is '${output.name}'?)`);
      continue;
    }
    const t = inspection.outputs.find((x) => x.name === tensorName);
    if (!t) {
      problems.push(`manifest.outputs.${output.name}: the model has no output '${tensorName}' (it has: ${inspection.outputs.map((x) => x.name).join(', ')})`);
      continue;
    }
    if (!['float32', 'float64'].includes(t.elemType)) problems.push(`output '${tensorName}': element type ${t.elemType}, expected float32`);
    if (output.kind === 'mask' || output.kind === 'detections') {
      if (t.shape.length !== 4 && t.shape.length !== 5) problems.push(`output '${tensorName}': rank ${t.shape.length} [${t.shape.join(', ')}], expected a map [N, C, D, H, W] or [N, C, H, W]`);
      continue;
    }
    const last = t.shape[t.shape.length - 1];
    if (t.shape.length > 2 || (t.shape.length === 2 && typeof last === 'number' && last !== 1 && last !== 2)) {
      problems.push(`output '${tensorName}': shape [${t.shape.join(', ')}], expected [batch], [batch, 1] or [batch, 2]`);
    }
  }
  for (const name of Object.keys(manifest.inputs)) {
    if (!iface.inputs.some((i) => i.name === name)) problems.push(`manifest.inputs.${name}: the benchmark has no input '${name}'`);
  }
  return problems;
}
