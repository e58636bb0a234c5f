import { DomainError, ErrorCode, FieldProblem } from './domain-error';

/**
 * One guard for every string that arrives from outside (JSON bodies, multipart fields, path parameters, query
 * strings): Postgres refuses NUL in text and jsonb, and refuses a lone surrogate's escape in jsonb, so either would
 * otherwise surface as a 500 deep inside a query. Rejected at the edge instead, with the field's path.
 */

/** Deeper than any Assay document (a benchmark definition is 4 levels); class-transformer recurses per level. */
export const MAX_INPUT_DEPTH = 32;
/** Keys that would set or shadow a prototype when a DTO library copies them (and so pass the extra-field check). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Enough to say what is wrong without building a large answer for a large hostile body. */
const MAX_PROBLEMS = 20;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why this string may not be stored, or null when it may. */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return null;
}

/** A key as it can be shown in a field path (a NUL or lone surrogate in the key itself is escaped). */
function printableKey(key: string): string {
  return textProblem(key) ? JSON.stringify(key).slice(1, -1).replace(/[\uD800-\uDFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`) : key;
}

const join = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);

/**
 * Every problem (up to a few) in a parsed value: NUL or lone surrogates in strings and keys, forbidden keys,
 * non-finite numbers, nesting deeper than `maxDepth`. Iterative, so a hostile depth cannot overflow the stack here.
 */
export function inputProblems(value: unknown, root = '', maxDepth = MAX_INPUT_DEPTH): FieldProblem[] {
  const problems: FieldProblem[] = [];
  // Problems of keys ride on the stack too, so that the list comes out in document order.
  type Item = { value: unknown; path: string; depth: number; keyProblem?: string };
  const stack: Item[] = [{ value, path: root, depth: 0 }];
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const item = stack.pop() as Item;
    const v = item.value;
    const field = item.path || 'body';
    if (item.keyProblem) {
      problems.push({ field, problem: item.keyProblem });
    } else if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) problems.push({ field, problem });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) problems.push({ field, problem: 'is not a finite number' });
    } else if (typeof v === 'object' && v !== null) {
      if (item.depth + 1 > maxDepth) {
        problems.push({ field, problem: `nested deeper than ${maxDepth} levels` });
        continue;
      }
      const isArray = Array.isArray(v);
      const entries: [string, unknown][] = isArray ? v.map((e, i) => [String(i), e]) : Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        const path = join(item.path, printableKey(key));
        const unsafeKey = isArray ? null : FORBIDDEN_KEYS.has(key) ? `'${key}' is not allowed as a key` : textProblem(key);
        const keyProblem = unsafeKey && !FORBIDDEN_KEYS.has(key) ? `key ${unsafeKey}` : unsafeKey;
        stack.push(keyProblem ? { value: null, path, depth: item.depth + 1, keyProblem } : { value: child, path, depth: item.depth + 1 });
      }
    }
  }
  return problems;
}

export function invalidInput(where: string, problems: FieldProblem[]): DomainError {
  return new DomainError(ErrorCode.ValidationFailed, `${where}: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
}

/** Throws a 400 naming every problem in the value (see inputProblems). */
export function assertCleanInput(value: unknown, opts: { root?: string; where: string }): void {
  const problems = inputProblems(value, opts.root ?? '');
  if (problems.length > 0) throw invalidInput(opts.where, problems);
}

/**
 * Multipart text fields (the shared check for src/submissions/multipart-upload.ts): the problem with one field, or
 * null when it may be stored.
 */
export function multipartFieldProblem(name: string, value: string): FieldProblem | null {
  const problem = textProblem(name) ?? textProblem(value);
  return problem ? { field: printableKey(name), problem } : null;
}

/**
 * JSON text from outside (a request body, a manifest carried in a form field): parsed, then checked as above.
 * `root` prefixes the field paths ("manifest" gives "manifest.version").
 */
export function parseUntrustedJson(text: string, root = ''): { value: unknown } | { problems: FieldProblem[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problems: [{ field: root || 'body', problem: `is not valid JSON (${(error as Error).message})` }] };
  }
  const problems = inputProblems(value, root);
  return problems.length > 0 ? { problems } : { value };
}
