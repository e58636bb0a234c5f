import type { AlgorithmInterfaceDto } from '../benchmarks/benchmark-definition';
import { inspectOnnx, interfaceProblems, OnnxInspection } from './onnx-inspect';
import type { OnnxModelManifest } from './submissions.entity';

export type StaticCheckVerdict =
  | { ok: true; inspection: OnnxInspection }
  | { ok: false; reason: string; problems: { field: string; problem: string }[]; inspection: OnnxInspection | null };

/**
 * The static part of a model's check, run by the worker before the sandbox: the bytes must be an ONNX model whose
 * signature fits the benchmark interface. The reason names the field and the problem, as the vendor sees it.
 */
export function staticOnnxCheck(bytes: Buffer, manifest: OnnxModelManifest, iface: AlgorithmInterfaceDto, benchmarkSlug: string): StaticCheckVerdict {
  let inspection: OnnxInspection;
  try {
    inspection = inspectOnnx(bytes);
  } catch (error) {
    const problem = (error as Error).message;
    return { ok: false, reason: `model: ${problem}`, problems: [{ field: 'model', problem }], inspection: null };
  }
  const fit = interfaceProblems(inspection, manifest, iface);
  if (fit.length === 0) return { ok: true, inspection };
  return { ok: false, reason: `model: does not fit ${benchmarkSlug}: ${fit.join('; ')}`, problems: fit.map((problem) => ({ field: 'model', problem })), inspection };
}
