// Parsing of survival truth (case_id,time,event) and risk predictions ({"caseId", "risk"}); errors name the line.
import { type InputIssue, type ParseResult, ScoringInputError, describe, parsePredictionsJsonl, splitCsvLine, splitLines } from './predictions';

export interface SurvivalTruthRow {
  readonly caseId: string;
  /** Follow-up time (any unit, ≥ 0). */
  readonly time: number;
  /** 1 = death (event), 0 = censored. */
  readonly event: 0 | 1;
}

export interface RiskPrediction {
  readonly caseId: string;
  /** Higher = worse prognosis. */
  readonly risk: number;
}

export function parseSurvivalTruthCsv(text: string): ParseResult<SurvivalTruthRow[]> {
  const fail = (issues: InputIssue[]): ParseResult<SurvivalTruthRow[]> => ({ ok: false, error: new ScoringInputError('INVALID_TRUTH', issues) });
  const lines = splitLines(text);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) return fail([{ line: 1, message: 'file is empty; expected a header "case_id,time,event"' }]);
  const header = splitCsvLine(lines[headerIndex] as string) ?? [];
  const cols = { id: header.indexOf('case_id'), time: header.indexOf('time'), event: header.indexOf('event') };
  const missingCols = Object.entries({ case_id: cols.id, time: cols.time, event: cols.event })
    .filter(([, i]) => i < 0)
    .map(([name]) => name);
  if (missingCols.length > 0) {
    return fail([{ line: headerIndex + 1, message: `header is missing column(s) ${missingCols.join(', ')}; expected "case_id,time,event"` }]);
  }
  const issues: InputIssue[] = [];
  const rows: SurvivalTruthRow[] = [];
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
    const caseId = fields[cols.id];
    const timeText = fields[cols.time];
    const eventText = fields[cols.event];
    if (caseId === undefined || timeText === undefined || eventText === undefined) {
      issues.push({ line: lineNo, message: `expected ${header.length} columns, found ${fields.length}` });
      continue;
    }
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
    const time = Number(timeText);
    if (timeText === '' || !Number.isFinite(time) || time < 0) {
      issues.push({ line: lineNo, message: `time "${timeText}" for case_id "${caseId}" is not a finite number ≥ 0` });
      continue;
    }
    if (eventText !== '0' && eventText !== '1') {
      issues.push({ line: lineNo, message: `event "${eventText}" for case_id "${caseId}" is not 1 (death) or 0 (censored)` });
      continue;
    }
    rows.push({ caseId, time, event: eventText === '1' ? 1 : 0 });
  }
  if (issues.length > 0) return fail(issues);
  if (rows.length === 0) return fail([{ line: headerIndex + 1, message: 'no cases after the header' }]);
  return { ok: true, value: rows };
}

function checkRiskRecord(record: unknown): string | null {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return `expected a JSON object, got ${describe(record)}`;
  const caseId: unknown = Reflect.get(record, 'caseId');
  if (caseId === undefined) return 'missing "caseId"';
  if (typeof caseId !== 'string') return `caseId is ${describe(caseId)}, expected a string`;
  if (caseId === '') return 'caseId is empty';
  const risk: unknown = Reflect.get(record, 'risk');
  if (risk === undefined) return `missing "risk" for caseId "${caseId}"`;
  if (typeof risk !== 'number') return `risk is ${describe(risk)}, expected a number (higher = worse)`;
  if (!Number.isFinite(risk)) return `risk ${String(risk)} is not a finite number`;
  return null;
}

/** Lines of {"caseId": "...", "risk": r}; extra fields ignored. */
export function parseRiskPredictionsJsonl(text: string): ParseResult<RiskPrediction[]> {
  return parsePredictionsJsonl(text, checkRiskRecord, (record, caseId) => ({ caseId, risk: Reflect.get(record, 'risk') as number }));
}
