// Parsing of survival truth (case_id,time,event) and risk predictions ({"caseId", "risk"}); errors name the line.
import { type ParseResult, describe, parsePredictionsJsonl, parseTruthTable } from './predictions';

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

/** `case_id,time,event` with event 1 = death, 0 = censored, time a finite number ≥ 0. */
export function parseSurvivalTruthCsv(text: string): ParseResult<SurvivalTruthRow[]> {
  return parseTruthTable(text, ['time', 'event'], (cells, caseId): SurvivalTruthRow | string => {
    const timeText = cells['time'] as string;
    const eventText = cells['event'];
    const time = Number(timeText);
    if (timeText === '' || !Number.isFinite(time) || time < 0) return `time "${timeText}" for case_id "${caseId}" is not a finite number ≥ 0`;
    if (eventText !== '0' && eventText !== '1') return `event "${eventText}" for case_id "${caseId}" is not 1 (death) or 0 (censored)`;
    return { caseId, time, event: eventText === '1' ? 1 : 0 };
  });
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
