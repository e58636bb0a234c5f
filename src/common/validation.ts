import { ValidateBy, ValidationError } from 'class-validator';
import { FieldProblem } from './domain-error';

/** Flattens class-validator's tree into `path.to.field: problem` entries, so every 4xx names the field. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((problem) => ({ field, problem }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

/**
 * A query-string integer written in plain decimal digits, within [min, max] (max at most 2^53 − 1): "1e20", "1.5",
 * "Infinity", "0x10" and repeated parameters are refused, never coerced.
 */
export function IsIntegerText(bounds: { min: number; max: number }): PropertyDecorator {
  return ValidateBy({
    name: 'isIntegerText',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(value) && Number(value) >= bounds.min && Number(value) <= Math.min(bounds.max, Number.MAX_SAFE_INTEGER),
      defaultMessage: (args) => `${args?.property ?? 'value'} must be a whole number from ${bounds.min} to ${bounds.max}, written in decimal digits`,
    },
  });
}
