import { onnx } from 'onnx-proto';
import type { AlgorithmInterfaceDto } from '../benchmarks/benchmark-definition';
import type { OnnxModelManifest } from './submissions.entity';
// Plain CommonJS shared with the runner image; tsconfig.build.json compiles it into dist/ beside this module's tree.
import { interfaceProblems as checkInterface } from '../../sandbox-images/onnx-runner/src/interface-check';

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

/**
 * Problems with how the model's signature fits the benchmark interface, each naming the field or the tensor. The
 * check itself is the runner's (sandbox-images/onnx-runner/src/interface-check.js), so the static check here and
 * the runner's check in the sandbox say the same thing about the same model.
 */
export function interfaceProblems(inspection: OnnxInspection, manifest: OnnxModelManifest, iface: AlgorithmInterfaceDto): string[] {
  const signature = (tensors: OnnxTensorInfo[]) => tensors.map((t) => ({ name: t.name, type: t.elemType, shape: t.shape }));
  return checkInterface({ inputs: signature(inspection.inputs), outputs: signature(inspection.outputs) }, manifest, iface);
}
