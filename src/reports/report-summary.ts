import type { SignedEvidence } from './evidence';

/** What a holder of a printed report compares: the report's identity and its primary endpoint, as that version states them. */
export interface IssuedReportSummary {
  reportId: string;
  audience: string;
  date: string;
  benchmark: string;
  benchmarkVersion: number;
  phase: string;
  submission: string;
  organisation: string;
  primary: { metric: string; value: number | null; ci: [number, number] | null };
}

export function issuedReportSummary(signed: SignedEvidence): IssuedReportSummary {
  const e = signed.evidence;
  const endpoint = e.primary.endpoint;
  return {
    reportId: e.reportId,
    audience: e.audience,
    date: e.date,
    benchmark: e.identity.benchmark.slug,
    benchmarkVersion: e.identity.benchmark.version,
    phase: e.identity.benchmark.phase,
    submission: e.identity.submission.name,
    organisation: e.identity.submission.organisation,
    primary: { metric: endpoint.metric, value: endpoint.value, ci: endpoint.ci },
  };
}
