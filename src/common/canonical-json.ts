/**
 * Canonical JSON, RFC 8785 (JCS): the byte form that hashes and signatures are computed over, so the same content
 * always hashes the same. Object members sorted by their names' UTF-16 code units (what `<` on JS strings compares),
 * no whitespace, numbers as ECMAScript's Number::toString prints them (JSON.stringify: -0 → 0, 1e+21, 5e-324),
 * strings with JSON.stringify's minimal escaping. I-JSON (RFC 7493) is enforced: a lone surrogate in a string or a
 * member name, a non-finite number, and anything that is not JSON data (undefined in an array, a function, a
 * symbol, a bigint) are refused rather than written in some form a verifier elsewhere would not reproduce.
 * Beyond JSON data: a Date is written as its ISO string, and an object member whose value is undefined is dropped
 * (as JSON.stringify does).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$');
  return out.join('');
}

/** A lone (unpaired) UTF-16 surrogate: not a Unicode string, so not I-JSON. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function string(text: string, path: string): string {
  if (LONE_SURROGATE.test(text)) throw new Error(`canonicalJson: lone surrogate in a string at ${path}`);
  return JSON.stringify(text);
}

function write(value: unknown, out: string[], path: string): void {
  switch (typeof value) {
    case 'string':
      out.push(string(value, path));
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`canonicalJson: non-finite number at ${path}`);
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'undefined':
      throw new Error(`canonicalJson: undefined at ${path}`);
    case 'object':
      break;
    default:
      throw new Error(`canonicalJson: a ${typeof value} is not JSON data (at ${path})`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (value instanceof Date) {
    out.push(JSON.stringify(value.toISOString()));
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item: unknown, i) => {
      if (i > 0) out.push(',');
      write(item, out, `${path}[${i}]`);
    });
    out.push(']');
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  out.push('{');
  entries.forEach(([k, v], i) => {
    if (i > 0) out.push(',');
    if (LONE_SURROGATE.test(k)) throw new Error(`canonicalJson: lone surrogate in a member name at ${path}`);
    out.push(JSON.stringify(k), ':');
    write(v, out, `${path}.${k}`);
  });
  out.push('}');
}
