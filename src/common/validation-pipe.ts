import { ValidationPipe } from '@nestjs/common';
import { DomainError, ErrorCode } from './domain-error';
import { flattenValidationErrors } from './validation';

/** DTOs at the edge: unknown fields are refused, and every problem names its field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const problems = flattenValidationErrors(errors);
      return new DomainError(ErrorCode.ValidationFailed, problems.map((p) => `${p.field}: ${p.problem}`).join('; '), problems);
    },
  });
}
