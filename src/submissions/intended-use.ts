import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { FieldProblem } from '../common/domain-error';
import { parseUntrustedJson } from '../common/input-guard';
import { flattenValidationErrors } from '../common/validation';
import { IntendedUseDto } from './submissions.dto';
import type { IntendedUse } from './submissions.entity';

const FIELD = 'intendedUse';

/**
 * The multipart field `intendedUse` (JSON text) of an upload: absent → null; otherwise a JSON object that passes
 * IntendedUseDto with no unknown key. Problems name the field path (`intendedUse.operatingMode`). The value kept is
 * rebuilt from the known keys only, so nothing the validator did not look at is stored.
 */
export function parseIntendedUse(text: string | undefined): { value: IntendedUse | null; problems: FieldProblem[] } {
  if (text === undefined) return { value: null, problems: [] };
  // Through the same input guard as a request body (NUL, surrogates, depth, __proto__).
  const parsed = parseUntrustedJson(text, FIELD);
  if ('problems' in parsed) return { value: null, problems: parsed.problems };
  const raw = parsed.value;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { value: null, problems: [{ field: FIELD, problem: 'must be a JSON object such as {"purpose": "…"}' }] };
  }
  const dto = plainToInstance(IntendedUseDto, raw);
  const problems = flattenValidationErrors(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }), FIELD);
  if (problems.length > 0) return { value: null, problems };
  const value: IntendedUse = { purpose: dto.purpose };
  for (const key of ['targetCondition', 'population', 'users', 'setting', 'inputConstraints', 'outputType', 'operatingMode'] as const) {
    if (dto[key] !== undefined) (value as unknown as Record<string, string>)[key] = dto[key] as string;
  }
  return { value, problems: [] };
}
