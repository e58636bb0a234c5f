import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DomainError, ErrorCode, FieldProblem } from '../common/domain-error';
import { flattenValidationErrors } from '../common/validation';
import { findTaskDefinition, supportedTasks } from '../tasks/registry';
import { BenchmarkDefinitionDto } from './benchmark-definition';

/** Validates a benchmark definition field by field, including the rules that span fields. */
export function validateBenchmarkDefinition(raw: unknown): BenchmarkDefinitionDto {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DomainError(ErrorCode.ValidationFailed, 'benchmark definition must be an object', [
      { field: '(root)', problem: 'must be an object' },
    ]);
  }
  const dto = plainToInstance(BenchmarkDefinitionDto, raw);
  const problems: FieldProblem[] = flattenValidationErrors(
    validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }),
  );
  if (problems.length === 0) problems.push(...crossFieldProblems(dto));
  if (problems.length > 0) {
    throw new DomainError(
      ErrorCode.ValidationFailed,
      `invalid benchmark definition: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`,
      problems,
    );
  }
  return dto;
}

function crossFieldProblems(dto: BenchmarkDefinitionDto): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const task = findTaskDefinition(dto.task);
  if (!task) {
    problems.push({ field: 'task', problem: `${dto.task} cannot be run yet; supported: ${supportedTasks().join(', ')}` });
    return problems;
  }
  const allowed = task.metrics;
  if (!allowed.includes(dto.metrics.primary)) {
    problems.push({ field: 'metrics.primary', problem: `unknown metric '${dto.metrics.primary}'; one of ${allowed.join(', ')}` });
  }
  dto.metrics.secondary.forEach((m, i) => {
    if (!allowed.includes(m)) problems.push({ field: `metrics.secondary.${i}`, problem: `unknown metric '${m}'; one of ${allowed.join(', ')}` });
    if (m === dto.metrics.primary) problems.push({ field: `metrics.secondary.${i}`, problem: `'${m}' is already the primary metric` });
  });
  const names = new Set<string>();
  dto.phases.forEach((p, i) => {
    if (names.has(p.name)) problems.push({ field: `phases.${i}.name`, problem: `duplicate phase name '${p.name}'` });
    names.add(p.name);
  });
  dto.phases.forEach((p, i) => {
    if (!p.federation) return;
    if (!task.federation) problems.push({ field: `phases.${i}.federation`, problem: `${dto.task} has no federated pooling yet` });
    if (p.split === 'sample') problems.push({ field: `phases.${i}.federation`, problem: 'the public sample runs at the facility (pre-flight); only a held-out phase runs on nodes' });
    const seen = new Set<string>();
    p.federation.nodes.forEach((n, k) => {
      if (seen.has(n.node)) problems.push({ field: `phases.${i}.federation.nodes.${k}.node`, problem: `node '${n.node}' is named twice` });
      seen.add(n.node);
    });
  });
  if (dto.phases[0]?.federation) problems.push({ field: 'phases.0.federation', problem: 'the first phase is the pre-flight at the facility; a federated phase comes after it' });
  problems.push(...task.validateDefinition(dto));
  if (dto.ranking.method !== 'aggregate-then-rank' && !task.perCaseLoss) {
    problems.push({ field: 'ranking.method', problem: `${dto.ranking.method} ranks on a per-case metric, which ${dto.task} does not have; use aggregate-then-rank` });
  }
  if (dto.feedback?.mechanism === 'ladder' && dto.feedback.step === undefined) problems.push({ field: 'feedback.step', problem: "the ladder needs a step η (e.g. 0.01)" });
  if (dto.feedback && dto.feedback.mechanism !== 'ladder' && dto.feedback.step !== undefined) problems.push({ field: 'feedback.step', problem: `only the fixed-step ladder takes a step, not '${dto.feedback.mechanism}'` });
  if (dto.feedback?.mechanism === 'ladder-parameter-free' && dto.metrics.primary !== 'brier') {
    problems.push({ field: 'feedback.mechanism', problem: `the parameter-free ladder needs a per-case loss as primary metric (brier), not '${dto.metrics.primary}'` });
  }
  const declared = new Set([dto.metrics.primary, ...dto.metrics.secondary]);
  (dto.report?.acceptanceCriteria ?? []).forEach((c, i) => {
    if (!declared.has(c.metric)) problems.push({ field: `report.acceptanceCriteria.${i}.metric`, problem: `'${c.metric}' is not a metric of this benchmark; one of ${[...declared].join(', ')}` });
  });
  if (dto.limits.resources.gpus > 0 && dto.limits.resources.gpus !== 1) {
    problems.push({ field: 'limits.resources.gpus', problem: 'at most one GPU per run is supported' });
  }
  return problems;
}
