import type { Type } from '@nestjs/common';
import { createValidationPipe } from '../common/validation-pipe';
import type { FormFields } from './form-body';

const pipe = createValidationPipe();

/**
 * A form's fields through the API's own DTO and ValidationPipe (same rules, same field-by-field messages). Empty
 * fields count as absent: a form sends every input, filled or not. `pageFields` are the page's own (not the DTO's);
 * any other unknown field is refused, as the API refuses it.
 */
export async function validateForm<T extends object>(dto: Type<T>, form: FormFields, pageFields: readonly string[] = []): Promise<T> {
  const plain: Record<string, string> = {};
  for (const [k, v] of Object.entries(form)) if (v !== '' && !pageFields.includes(k)) plain[k] = v;
  return (await pipe.transform(plain, { type: 'body', metatype: dto })) as T;
}
