// Parsing and validation of scoring inputs. Pure: takes file contents, returns typed results naming line and problem.

export interface InputIssue {
  /** 1-based physical line number in the file. */
  readonly line: number;
  readonly message: string;
}

export type ScoringInputErrorCode = 'INVALID_TRUTH' | 'INVALID_PREDICTIONS';

/** Carries every offending line; `line`/`reason` expose the first one for one-line reports such as invalid_output. */
export class ScoringInputError extends Error {
  readonly code: ScoringInputErrorCode;
  readonly issues: readonly InputIssue[];
  readonly line: number;
  readonly reason: string;

  constructor(code: ScoringInputErrorCode, issues: readonly InputIssue[]) {
    const first = issues[0] ?? { line: 1, message: 'empty input' };
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
    super(`line ${first.line}: ${first.message}${more}`);
    this.name = 'ScoringInputError';
    this.code = code;
    this.issues = issues;
    this.line = first.line;
    this.reason = first.message;
  }
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ScoringInputError };

export interface TruthRow {
  readonly caseId: string;
  /** 1 = positive, 0 = negative. */
  readonly label: 0 | 1;
}

export interface BinaryPrediction {
  readonly caseId: string;
  readonly probability: number;
}

export function splitLines(text: string): string[] {
  // Strip a UTF-8 BOM and tolerate CRLF files from spreadsheet exports.
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

/** Minimal RFC 4180 field splitter (quoted fields, doubled quotes); returns null on an unterminated quote. */
export function splitCsvLine(line: string): string[] | null {
  // Unquoted lines (nearly all): the native split, the same fields as the loop below gives them.
  if (!line.includes('"')) return line.split(',').map((f) => f.trim());
  const fields: string[] = [];
  let field = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQuotes) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') inQuotes = false;
      else field += ch;
    } else if (ch === '"') inQuotes = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  if (inQuotes) return null;
  fields.push(field);
  return fields.map((f) => f.trim());
}

/**
 * The one truth-table reader for every task: a header naming `case_id` and the task's columns, then one row per case.
 * `build` turns a row's cells into the task's record or says what is wrong with them (a string). Every bad row is
 * reported with its line number; duplicates name the line of the first; no rows is an error.
 */
export function parseTruthTable<T>(text: string, columns: readonly string[], build: (cells: Record<string, string>, caseId: string) => T | string): ParseResult<T[]> {
  const fail = (issues: InputIssue[]): ParseResult<T[]> => ({ ok: false, error: new ScoringInputError('INVALID_TRUTH', issues) });
  const expected = `"${['case_id', ...columns].join(',')}"`;
  const lines = splitLines(text);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) return fail([{ line: 1, message: `file is empty; expected a header ${expected}` }]);
  const header = splitCsvLine(lines[headerIndex] as string) ?? [];
  const index = ['case_id', ...columns].map((c) => [c, header.indexOf(c)] as const);
  const missing = index.filter(([, i]) => i < 0).map(([c]) => c);
  if (missing.length > 0) return fail([{ line: headerIndex + 1, message: `header is missing column(s) ${missing.join(', ')}; expected ${expected}` }]);
  const issues: InputIssue[] = [];
  const rows: T[] = [];
  const firstSeen = new Map<string, number>();
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const raw = lines[i] as string;
    if (raw.trim() === '') continue;
    const lineNo = i + 1;
    const fields = splitCsvLine(raw);
    if (fields === null) {
      issues.push({ line: lineNo, message: 'unterminated quoted field' });
      continue;
    }
    const cells: Record<string, string> = {};
    let short = false;
    for (const [name, col] of index) {
      const v = fields[col];
      if (v === undefined) short = true;
      else cells[name] = v;
    }
    if (short) {
      issues.push({ line: lineNo, message: `expected ${header.length} columns, found ${fields.length}` });
      continue;
    }
    const caseId = cells['case_id'] as string;
    if (caseId === '') {
      issues.push({ line: lineNo, message: 'case_id is empty' });
      continue;
    }
    const seen = firstSeen.get(caseId);
    if (seen !== undefined) {
      issues.push({ line: lineNo, message: `duplicate case_id "${caseId}" (first on line ${seen})` });
      continue;
    }
    firstSeen.set(caseId, lineNo);
    const row = build(cells, caseId);
    if (typeof row === 'string') issues.push({ line: lineNo, message: row });
    else rows.push(row);
  }
  if (issues.length > 0) return fail(issues);
  if (rows.length === 0) return fail([{ line: headerIndex + 1, message: 'no cases after the header' }]);
  return { ok: true, value: rows };
}

/** `case_id,label` with label 1 = positive, 0 = negative. */
export function parseTruthCsv(text: string): ParseResult<TruthRow[]> {
  return parseTruthTable(text, ['label'], (cells, caseId): TruthRow | string => {
    const label = cells['label'];
    if (label !== '0' && label !== '1') return `label "${label}" for case_id "${caseId}" is not 0 or 1`;
    return { caseId, label: label === '1' ? 1 : 0 };
  });
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `a string (${JSON.stringify(value)})`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** Validates one parsed JSONL record; returns the problem, or null if the record is fine. */
function checkPredictionRecord(record: unknown): string | null {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return `expected a JSON object, got ${describe(record)}`;
  }
  const caseId: unknown = Reflect.get(record, 'caseId');
  if (caseId === undefined) return 'missing "caseId"';
  if (typeof caseId !== 'string') return `caseId is ${describe(caseId)}, expected a string`;
  if (caseId === '') return 'caseId is empty';
  const probability: unknown = Reflect.get(record, 'probability');
  if (probability === undefined) return `missing "probability" for caseId "${caseId}"`;
  if (typeof probability !== 'number') return `probability is ${describe(probability)}, expected a number in [0, 1]`;
  // JSON.parse turns 1e999 into Infinity.
  if (!Number.isFinite(probability)) return `probability ${String(probability)} is not a finite number`;
  if (probability < 0 || probability > 1) return `probability ${probability} is outside [0, 1]`;
  return null;
}

/**
 * The first key that occurs twice in one object of a valid JSON text, or null. JSON.parse keeps the last value of a
 * repeated key silently; a scorer must not guess which one the vendor meant. Keys are compared after unescaping
 * ("\u0070robability" is "probability"). O(length), no allocation beyond the keys.
 */
export function firstDuplicateKey(text: string): string | null {
  // One entry per open container: the keys seen so far (objects) or null (arrays).
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
          continue;
        }
        if (d === 0x22) break;
        j++;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return null;
}

/** A predictions file stops being read after this many problems (each is reported with its line). */
export const MAX_PREDICTION_ISSUES = 20;

/**
 * The one JSONL reader for every task: each non-empty line one JSON object with a `caseId`; `check` names what is
 * wrong with a record (or null), `build` takes the checked record apart. Every bad line is reported with its number,
 * duplicates name the line of the first, and an empty file is an error, never an empty result.
 */
export function parsePredictionsJsonl<T>(text: string, check: (record: unknown) => string | null, build: (record: object, caseId: string) => T): ParseResult<T[]> {
  const body = text.replace(/^\uFEFF/, '');
  const issues: InputIssue[] = [];
  const out: T[] = [];
  const firstSeen = new Map<string, number>();
  // Lines are taken one at a time and the reading stops at MAX_PREDICTION_ISSUES problems: the file is the vendor's,
  // and millions of junk lines must cost the worker neither a minute of synchronous parsing nor gigabytes of
  // problem records (nor an array of every line up front).
  let lineNo = 0;
  for (let at = 0; at <= body.length; ) {
    const end = body.indexOf('\n', at);
    const stop = end < 0 ? body.length : end;
    const raw = body.slice(at, stop).trim();
    at = stop + 1;
    lineNo++;
    if (issues.length >= MAX_PREDICTION_ISSUES) {
      if (raw !== '') {
        issues.push({ line: lineNo, message: `more problems from here on; reading stopped after ${MAX_PREDICTION_ISSUES}` });
        break;
      }
      continue;
    }
    if (raw === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (e) {
      issues.push({ line: lineNo, message: `invalid JSON (${e instanceof Error ? e.message : String(e)})` });
      continue;
    }
    // Only objects can repeat a key; the scan runs on lines that JSON.parse accepted.
    const duplicate = raw.includes('{') ? firstDuplicateKey(raw) : null;
    if (duplicate !== null) {
      issues.push({ line: lineNo, message: `duplicate key ${JSON.stringify(duplicate)} in one object (JSON.parse would keep the last value; the scorer does not guess)` });
      continue;
    }
    const problem = check(record);
    if (problem !== null) {
      issues.push({ line: lineNo, message: problem });
      continue;
    }
    const caseId = Reflect.get(record as object, 'caseId') as string;
    const seen = firstSeen.get(caseId);
    if (seen !== undefined) {
      issues.push({ line: lineNo, message: `duplicate caseId "${caseId}" (first on line ${seen})` });
      continue;
    }
    firstSeen.set(caseId, lineNo);
    out.push(build(record as object, caseId));
  }
  if (issues.length > 0) return { ok: false, error: new ScoringInputError('INVALID_PREDICTIONS', issues) };
  if (out.length === 0) return { ok: false, error: new ScoringInputError('INVALID_PREDICTIONS', [{ line: 1, message: 'no predictions in file' }]) };
  return { ok: true, value: out };
}

/** Lines of {"caseId": "...", "probability": p}; unknown extra fields are allowed and ignored. */
export function parseBinaryPredictionsJsonl(text: string): ParseResult<BinaryPrediction[]> {
  return parsePredictionsJsonl(text, checkPredictionRecord, (record, caseId) => ({ caseId, probability: Reflect.get(record, 'probability') as number }));
}

export type AlignmentResult =
  | { readonly ok: true; readonly caseIds: string[]; readonly probabilities: number[] }
  | { readonly ok: false; readonly missing: string[]; readonly unknown: string[] };

/**
 * Puts predictions in truth order. Any truth case without a prediction, or prediction for an unknown case, fails the
 * alignment: the caller decides the policy (e.g. worst-value imputation, METRICS.md §6.5); nothing is dropped here.
 */
export function alignPredictions(truthIds: readonly string[], predictions: readonly BinaryPrediction[]): AlignmentResult {
  const byId = new Map<string, number>();
  for (const p of predictions) byId.set(p.caseId, p.probability);
  const truthSet = new Set(truthIds);
  const missing = truthIds.filter((id) => !byId.has(id));
  const unknown = predictions.map((p) => p.caseId).filter((id) => !truthSet.has(id));
  if (missing.length > 0 || unknown.length > 0) return { ok: false, missing, unknown };
  return { ok: true, caseIds: [...truthIds], probabilities: truthIds.map((id) => byId.get(id) as number) };
}
