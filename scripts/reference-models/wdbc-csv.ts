// Reading the WDBC cohort file and the vendor-facing `sample` split CSV.
// The sample format is `case_id,label,<30 feature columns>` with label 1 = malignant, 0 = benign and the feature
// columns in the order of cohorts/wdbc/wdbc.csv. Parsing is strict: a reference model fitted on a silently
// mangled file would be worse than no reference model.

export const WDBC_FEATURES = [
  'mean_radius',
  'mean_texture',
  'mean_perimeter',
  'mean_area',
  'mean_smoothness',
  'mean_compactness',
  'mean_concavity',
  'mean_concave_points',
  'mean_symmetry',
  'mean_fractal_dimension',
  'radius_error',
  'texture_error',
  'perimeter_error',
  'area_error',
  'smoothness_error',
  'compactness_error',
  'concavity_error',
  'concave_points_error',
  'symmetry_error',
  'fractal_dimension_error',
  'worst_radius',
  'worst_texture',
  'worst_perimeter',
  'worst_area',
  'worst_smoothness',
  'worst_compactness',
  'worst_concavity',
  'worst_concave_points',
  'worst_symmetry',
  'worst_fractal_dimension',
] as const;

export type WdbcFeature = (typeof WDBC_FEATURES)[number];

export const SAMPLE_CSV_HEADER: readonly string[] = ['case_id', 'label', ...WDBC_FEATURES];
export const COHORT_CSV_HEADER: readonly string[] = ['case_id', 'diagnosis', ...WDBC_FEATURES];

export interface WdbcCase {
  readonly caseId: string;
  /** 1 = malignant, 0 = benign. */
  readonly label: 0 | 1;
  /** The 30 features in WDBC_FEATURES order. */
  readonly features: readonly number[];
}

export class WdbcCsvError extends Error {
  readonly code = 'wdbc_csv_invalid';
  constructor(
    readonly source: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(`${source}${line === null ? '' : `:${line}`}: ${detail}`);
    this.name = 'WdbcCsvError';
  }
}

const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  return lines;
}

function parseCsv(
  text: string,
  source: string,
  header: readonly string[],
  parseLabel: (raw: string) => 0 | 1 | null,
  labelDescription: string,
): WdbcCase[] {
  const lines = splitLines(text);
  const headerLine = lines[0];
  if (headerLine === undefined) throw new WdbcCsvError(source, null, 'file is empty');
  const got = headerLine.split(',').map((h) => h.trim());
  if (got.length !== header.length) {
    throw new WdbcCsvError(source, 1, `header has ${got.length} columns, expected ${header.length}: ${header.join(',')}`);
  }
  header.forEach((expected, i) => {
    if (got[i] !== expected) {
      throw new WdbcCsvError(source, 1, `header column ${i + 1} is "${got[i] ?? ''}", expected "${expected}"`);
    }
  });

  const cases: WdbcCase[] = [];
  const seen = new Set<string>();
  for (let index = 1; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index] ?? '';
    if (line.trim() === '') throw new WdbcCsvError(source, lineNumber, 'blank line inside the data');
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== header.length) {
      throw new WdbcCsvError(source, lineNumber, `row has ${cells.length} columns, expected ${header.length}`);
    }
    const [caseId = '', rawLabel = '', ...rawFeatures] = cells;
    if (caseId === '') throw new WdbcCsvError(source, lineNumber, 'case_id is empty');
    if (seen.has(caseId)) throw new WdbcCsvError(source, lineNumber, `duplicate case_id "${caseId}"`);
    seen.add(caseId);
    const label = parseLabel(rawLabel);
    if (label === null) {
      throw new WdbcCsvError(source, lineNumber, `${header[1] ?? 'label'} is "${rawLabel}", expected ${labelDescription}`);
    }
    const features = rawFeatures.map((raw, j) => {
      const value = NUMBER_PATTERN.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isFinite(value)) {
        throw new WdbcCsvError(source, lineNumber, `${WDBC_FEATURES[j] ?? `column ${j + 3}`} is "${raw}", not a finite number`);
      }
      return value;
    });
    cases.push({ caseId, label, features });
  }
  if (cases.length === 0) throw new WdbcCsvError(source, null, 'no data rows');
  return cases;
}

/** Parses the vendor-facing sample split: `case_id,label,<30 features>`, label 0/1. */
export function parseSampleCsv(text: string, source = 'sample.csv'): WdbcCase[] {
  return parseCsv(text, source, SAMPLE_CSV_HEADER, (raw) => (raw === '1' ? 1 : raw === '0' ? 0 : null), '0 or 1');
}

/** Parses cohorts/wdbc/wdbc.csv: `case_id,diagnosis,<30 features>`, diagnosis M/B. */
export function parseCohortCsv(text: string, source = 'wdbc.csv'): WdbcCase[] {
  return parseCsv(text, source, COHORT_CSV_HEADER, (raw) => (raw === 'M' ? 1 : raw === 'B' ? 0 : null), 'M or B');
}

/** Serialises cases in the sample split format. Numbers are written with JS's shortest round-trip form. */
export function formatSampleCsv(cases: readonly WdbcCase[]): string {
  const rows = cases.map((c) => [c.caseId, String(c.label), ...c.features.map((v) => String(v))].join(','));
  return [SAMPLE_CSV_HEADER.join(','), ...rows].join('\n') + '\n';
}

/**
 * Deterministic stratified choice of a sample split: within each class (in file order) take the cases at
 * evenly spaced positions floor((k + 0.5) * n_class / want). For WDBC with 8 malignant and 12 benign this yields
 * the fixture test/fixtures/wdbc-sample.csv; the output keeps file order.
 */
export function selectStratifiedSample(cases: readonly WdbcCase[], malignant: number, benign: number): WdbcCase[] {
  const pick = (label: 0 | 1, want: number): Set<string> => {
    const ofClass = cases.filter((c) => c.label === label);
    if (want > ofClass.length) throw new Error(`asked for ${want} cases of label ${label}, only ${ofClass.length}`);
    const chosen = new Set<string>();
    for (let k = 0; k < want; k++) {
      const c = ofClass[Math.floor(((k + 0.5) * ofClass.length) / want)];
      if (c !== undefined) chosen.add(c.caseId);
    }
    return chosen;
  };
  const chosen = new Set([...pick(1, malignant), ...pick(0, benign)]);
  return cases.filter((c) => chosen.has(c.caseId));
}
