import { ValidationError } from 'class-validator';
import { FieldProblem } from './domain-error';

/** Flattens class-validator's tree into `path.to.field: problem` entries, so every 4xx names the field. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((problem) => ({ field, problem }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}
