import type { BenchmarkDefinitionDto } from '../benchmarks/benchmark-definition';
import type { FieldProblem } from '../common/domain-error';

/**
 * Interface rules shared by the image tasks: exactly one volume input (canonical NIfTI, written by Assay at ingestion)
 * and exactly one output of the task's kind.
 */
export function volumeInterfaceProblems(dto: Pick<BenchmarkDefinitionDto, 'task' | 'interface'>, output: { kind: 'mask' | 'detections'; name: string }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const inputs = dto.interface.inputs;
  if (inputs.length !== 1 || inputs[0]?.kind !== 'volume') problems.push({ field: 'interface.inputs', problem: `${dto.task} takes exactly one input of kind 'volume' (format nifti)` });
  const outputs = dto.interface.outputs;
  if (outputs.length !== 1 || outputs[0]?.kind !== output.kind || outputs[0]?.name !== output.name) {
    problems.push({ field: 'interface.outputs', problem: `${dto.task} has exactly one output named '${output.name}' of kind '${output.kind}'` });
  }
  return problems;
}
