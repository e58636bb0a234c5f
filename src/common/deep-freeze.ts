/**
 * Freezes a value and everything it holds, for objects shared between requests from a cache: a caller that tries to
 * change one fails loudly (strict mode) instead of changing what every later reader is served.
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
