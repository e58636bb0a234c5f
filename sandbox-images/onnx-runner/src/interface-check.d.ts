// Types of interface-check.js (plain CommonJS, shared by the runner image and the worker's static check).

/** One model input or output as either reader sees it; a dimension is a number or dynamic (a name, -1, null, '?'). */
export interface TensorSignature {
  name: string;
  /** Element type: float32, float64, int64, …; what a non-tensor value reports is not checked. */
  type: string;
  shape: readonly (number | string | null)[];
  /** false for a sequence or map value (onnxruntime's metadata says so; the protobuf reader leaves it out). */
  isTensor?: boolean;
}

export interface ModelSignature {
  inputs: readonly TensorSignature[];
  outputs: readonly TensorSignature[];
}

/** The vendor's mapping from the benchmark's input and output names to the model's tensor names. */
export interface InterfaceMapping {
  inputs: Readonly<Record<string, string>>;
  outputs: Readonly<Record<string, string>>;
}

/** The benchmark's interface (AlgorithmInterfaceDto and the batch manifest's `interface`): vector or volume inputs. */
export interface VectorInterface {
  inputs: readonly { name: string; kind?: string; length?: number; dtype?: string }[];
  outputs: readonly { name: string; kind: string }[];
}

/** Problems with how the signature fits the interface under the manifest, each naming the field or tensor. */
export function interfaceProblems(signature: ModelSignature, manifest: InterfaceMapping, iface: VectorInterface): string[];

export function isDynamic(dimension: unknown): boolean;
