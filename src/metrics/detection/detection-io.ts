// Offline scorer inputs for `assay score --task detection`: the truth CSV and the predictions JSONL, parsed and joined.
// Pure: takes file contents, returns typed results or a ScoringInputError naming every bad line and field.
import { parse } from 'csv-parse/sync';
import { type InputIssue, type ParseResult, ScoringInputError, describe, parsePredictionsJsonl } from '../predictions';
import { type DetectionScanInput } from './detection-report';
import { type PointDetection, type ReferenceLesion } from './matching';

export const DETECTION_TRUTH_COLUMNS = ['case_id', 'lesion_id', 'x', 'y', 'z', 'diameter_mm'] as const;
const LESION_FIELDS = ['lesion_id', 'x', 'y', 'z', 'diameter_mm'] as const;

/** Above this many detections in one case the file is refused (a runaway detector, not a scoring input). */
export const DEFAULT_MAX_DETECTIONS_PER_CASE = 1000;

export interface DetectionTruthCase {
  readonly caseId: string;
  readonly lesions: ReferenceLesion[];
}

export interface DetectionPrediction {
  readonly caseId: string;
  readonly detections: PointDetection[];
}

const fail = (issues: InputIssue[]): ParseResult<never> => ({ ok: false, error: new ScoringInputError('INVALID_TRUTH', issues) });

/**
 * `case_id,lesion_id,x,y,z,diameter_mm` (world mm), one row per lesion; a case without a lesion appears once with all
 * five lesion fields empty. Cases keep the order of their first row.
 */
export function parseDetectionTruthCsv(text: string): ParseResult<DetectionTruthCase[]> {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text.replace(/^\uFEFF/, ''), { info: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as unknown as typeof records;
  } catch (e) {
    const line = (e as { lines?: number }).lines ?? 1;
    return fail([{ line, message: `not a readable CSV (${e instanceof Error ? e.message : String(e)})` }]);
  }
  const expected = `"${DETECTION_TRUTH_COLUMNS.join(',')}"`;
  const head = records[0];
  if (head === undefined) return fail([{ line: 1, message: `file is empty; expected a header ${expected}` }]);
  const header = head.record;
  if (header.length !== DETECTION_TRUTH_COLUMNS.length || DETECTION_TRUTH_COLUMNS.some((c, i) => header[i] !== c)) {
    return fail([{ line: head.info.lines, message: `header is "${header.join(',')}"; expected exactly ${expected}` }]);
  }
  const issues: InputIssue[] = [];
  const cases = new Map<string, { lesions: ReferenceLesion[]; emptyLine: number | null; firstLine: number; lesionLines: Map<string, number> }>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    if (record.length !== DETECTION_TRUTH_COLUMNS.length) {
      issues.push({ line, message: `expected ${DETECTION_TRUTH_COLUMNS.length} fields, found ${record.length}` });
      continue;
    }
    const [caseId, lesionId, xs, ys, zs, ds] = record as [string, string, string, string, string, string];
    if (caseId === '') {
      issues.push({ line, message: 'case_id is empty' });
      continue;
    }
    let entry = cases.get(caseId);
    if (entry === undefined) {
      entry = { lesions: [], emptyLine: null, firstLine: line, lesionLines: new Map() };
      cases.set(caseId, entry);
    }
    const lesionFields = [lesionId, xs, ys, zs, ds];
    if (lesionFields.every((f) => f === '')) {
      if (entry.emptyLine !== null) issues.push({ line, message: `case_id "${caseId}" already listed without lesions on line ${entry.emptyLine}` });
      else if (entry.lesions.length > 0) issues.push({ line, message: `case_id "${caseId}" has lesions (first on line ${entry.firstLine}) and a row without a lesion` });
      else entry.emptyLine = line;
      continue;
    }
    const empty = LESION_FIELDS.filter((_, i) => lesionFields[i] === '');
    if (empty.length > 0) {
      issues.push({ line, message: `${empty.join(', ')} empty for case_id "${caseId}": give all lesion fields, or none for a case without lesions` });
      continue;
    }
    if (entry.emptyLine !== null) {
      issues.push({ line, message: `case_id "${caseId}" was listed without lesions on line ${entry.emptyLine} and has a lesion here` });
      continue;
    }
    const seen = entry.lesionLines.get(lesionId);
    if (seen !== undefined) {
      issues.push({ line, message: `duplicate lesion_id "${lesionId}" in case_id "${caseId}" (first on line ${seen})` });
      continue;
    }
    const nums: number[] = [];
    let bad = false;
    for (const [name, raw] of [['x', xs], ['y', ys], ['z', zs], ['diameter_mm', ds]] as const) {
      // Number('') is 0 and Number(' 1') is 1: only a plain decimal literal is accepted.
      const v = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isFinite(v)) {
        issues.push({ line, message: `${name} "${raw}" is not a finite number` });
        bad = true;
        break;
      }
      nums.push(v);
    }
    if (bad) continue;
    const [x, y, z, d] = nums as [number, number, number, number];
    if (!(d > 0)) {
      issues.push({ line, message: `diameter_mm ${d} must be positive (mm)` });
      continue;
    }
    entry.lesionLines.set(lesionId, line);
    entry.lesions.push({ lesionId, x, y, z, diameterMm: d });
  }
  if (issues.length > 0) return fail(issues);
  if (cases.size === 0) return fail([{ line: head.info.lines, message: 'no cases after the header' }]);
  return { ok: true, value: [...cases].map(([caseId, e]) => ({ caseId, lesions: e.lesions })) };
}

function checkDetectionRecord(record: unknown, maxPerCase: number): string | null {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return `expected a JSON object, got ${describe(record)}`;
  const caseId: unknown = Reflect.get(record, 'caseId');
  if (caseId === undefined) return 'missing "caseId"';
  if (typeof caseId !== 'string') return `caseId is ${describe(caseId)}, expected a string`;
  if (caseId === '') return 'caseId is empty';
  const detections: unknown = Reflect.get(record, 'detections');
  if (detections === undefined) return `missing "detections" for caseId "${caseId}" (use [] for none)`;
  if (!Array.isArray(detections)) return `detections is ${describe(detections)} for caseId "${caseId}", expected an array`;
  if (detections.length > maxPerCase) return `${detections.length} detections for caseId "${caseId}": at most ${maxPerCase} per case`;
  for (let i = 0; i < detections.length; i++) {
    const d: unknown = detections[i];
    if (typeof d !== 'object' || d === null || Array.isArray(d)) return `detections[${i}] is ${describe(d)} for caseId "${caseId}", expected an object`;
    for (const key of ['x', 'y', 'z', 'score']) {
      const v: unknown = Reflect.get(d, key);
      if (v === undefined) return `detections[${i}] missing "${key}" for caseId "${caseId}"`;
      if (typeof v !== 'number') return `detections[${i}].${key} is ${describe(v)} for caseId "${caseId}", expected a number`;
      if (!Number.isFinite(v)) return `detections[${i}].${key} ${String(v)} is not a finite number`;
    }
  }
  return null;
}

/** Lines of {"caseId": "...", "detections": [{"x", "y", "z", "score"}]} (world mm); extra fields are ignored. */
export function parseDetectionPredictionsJsonl(text: string, maxPerCase = DEFAULT_MAX_DETECTIONS_PER_CASE): ParseResult<DetectionPrediction[]> {
  return parsePredictionsJsonl(
    text,
    (r) => checkDetectionRecord(r, maxPerCase),
    (record, caseId) => ({
      caseId,
      detections: (Reflect.get(record, 'detections') as Record<string, number>[]).map((d) => ({ x: d['x'] as number, y: d['y'] as number, z: d['z'] as number, score: d['score'] as number })),
    }),
  );
}

export type DetectionJoinResult =
  | { readonly ok: true; readonly scans: DetectionScanInput[] }
  | { readonly ok: false; readonly missing: string[]; readonly unknown: string[] };

/** Scans in truth order. A truth case without a prediction line, or a line for an unknown case, fails the join. */
export function joinDetection(truth: readonly DetectionTruthCase[], predictions: readonly DetectionPrediction[]): DetectionJoinResult {
  const byId = new Map(predictions.map((p) => [p.caseId, p.detections] as const));
  const truthIds = new Set(truth.map((t) => t.caseId));
  const missing = truth.filter((t) => !byId.has(t.caseId)).map((t) => t.caseId);
  const unknown = predictions.filter((p) => !truthIds.has(p.caseId)).map((p) => p.caseId);
  if (missing.length > 0 || unknown.length > 0) return { ok: false, missing, unknown };
  return { ok: true, scans: truth.map((t) => ({ caseId: t.caseId, lesions: t.lesions, detections: byId.get(t.caseId) as PointDetection[] })) };
}
