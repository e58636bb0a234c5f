import type { Principal } from '../auth/auth.decorators';

/**
 * What the report pages need from the reports backend (src/reports, built beside this): the same reads as
 * GET /api/reports and GET /api/reports/:id, with the same access rules (a report the caller may not read is a
 * DomainError not_found, as the API answers). Provided under WEB_REPORTS by the reports module (the lead wires an
 * adapter over the reports service after merging); while it is absent, the report pages answer 404 saying so.
 */
export const WEB_REPORTS = 'assay:web-reports';

/**
 * The report pages (GET /reports, GET /reports/:id) are served once the reports backend provides WEB_REPORTS: set
 * this to true then (web.module.ts registers ReportPagesController and the header links to it). Until then the
 * routes do not exist, so the authorization matrix and the fuzz tier do not meet pages without a backend.
 */
export const REPORT_PAGES_ENABLED = false;

export interface ReportListItem {
  id: string;
  submissionId: string;
  benchmark: string;
  phase: string;
  /** sha256 of the evidence record's canonical bytes. */
  evidenceSha256: string;
  keyId: string;
  createdAt: string;
  /** Optional, shown when present. */
  submissionName?: string;
  organisation?: string;
}

export interface ReportsForPages {
  list(principal: Principal): Promise<ReportListItem[]>;
  get(principal: Principal, id: string): Promise<ReportListItem>;
}
