import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { RunDeterminism, RunFederationState } from './evaluation.entity';
import type { MetricValue } from '../metrics/score-report';
import type { PublicMetric, VendorFeedback } from '../leaderboards/held-out-feedback';
import { RunSummaryResponse } from '../submissions/submissions.dto';

/** A run's determinism check as a reader may see it: vendors of held-out runs get checked and the counts only. */
export class DeterminismResponse {
  @ApiProperty({ description: 'Whether the re-run outputs were compared (false: turned off, or the re-run batch failed)' }) checked!: boolean;
  @ApiProperty({ description: 'Cases re-run' }) cases!: number;
  @ApiProperty({ description: 'Re-run cases whose outputs were identical to the first run' }) identical!: number;
  @ApiPropertyOptional({ description: 'How the check was made (not shown to vendors of held-out runs)' }) method?: string;
  @ApiPropertyOptional({ type: [String], description: 'Case ids whose outputs differed (not shown to vendors of held-out runs)' }) mismatches?: string[];
  @ApiPropertyOptional({ description: 'What was found, or why nothing was compared, naming no case (not shown to vendors of held-out runs)' }) summary?: string;
  @ApiPropertyOptional({ description: 'The same with particulars: the first differing case, the re-run fault (not shown to vendors of held-out runs)' }) detail?: string;
}

export function toDeterminismResponse(d: RunDeterminism | null, opts: { showDetail: boolean }): DeterminismResponse | null {
  if (!d) return null;
  if (!opts.showDetail) return { checked: d.checked, cases: d.cases, identical: d.identical };
  return { checked: d.checked, cases: d.cases, identical: d.identical, method: d.method, mismatches: [...d.mismatches], summary: d.summary, ...(d.detail !== undefined ? { detail: d.detail } : {}) };
}

export class RunDetailResponse extends RunSummaryResponse {
  @ApiProperty() submissionId!: string;
  @ApiProperty() split!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty({ description: 'What this run used: model hash, cohort and benchmark content hashes, metric code, runner image, runtime' })
  pins!: Record<string, string | null>;
  @ApiProperty({ description: 'Per-step timings in ms' }) timings!: Record<string, number>;
  @ApiProperty({
    nullable: true,
    description:
      'Aggregate metrics with 95% CIs, once succeeded. Vendors on a held-out phase: only once the phase is released, rounded as the public leaderboard (no counts, no Wilson CIs), or under the Ladder the primary metric\'s ladder value only',
  })
  metrics!: Record<string, MetricValue | PublicMetric> | null;
  @ApiProperty({ description: "How the scores were shown: 'full' (evaluators, admins, sample split), 'round' or the Ladder; state withheld (not released) or pending" })
  feedback!: VendorFeedback;
  @ApiProperty({ nullable: true, type: Object }) details!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: DeterminismResponse, description: 'Determinism check of a held-out run (a seeded sample re-run once); null when none was made' })
  determinism!: DeterminismResponse | null;
  @ApiProperty({ nullable: true, type: Object, description: 'A federated phase (issue 11): where each node stands (queued, running, done, waiting_for_node), the deadline for an offline node; job ids for staff only' })
  federation!: RunFederationResponse | null;
}

export interface RunFederationResponse {
  deadline: string;
  deadlinePassed: boolean;
  nodes: { node: string; cohort: string; status: string; outcome: string | null; lastSeen: string | null; jobId?: string }[];
  /** The evaluator's decisions while it waited (who decided and why: staff only). */
  decisions: { at: string; decision: string; deadline: string; hours?: number; by?: string; note?: string }[];
}

export function toRunFederationResponse(state: RunFederationState | null, opts: { showDetail: boolean }, now: Date): RunFederationResponse | null {
  if (!state) return null;
  return {
    deadline: state.deadline,
    deadlinePassed: now.getTime() >= Date.parse(state.deadline),
    nodes: state.nodes.map((n) => ({ node: n.node, cohort: n.cohort, status: n.status, outcome: n.outcome ?? null, lastSeen: n.lastSeen, ...(opts.showDetail ? { jobId: n.jobId } : {}) })),
    decisions: (state.decisions ?? []).map((d) => ({
      at: d.at,
      decision: d.decision,
      deadline: d.deadline,
      ...(d.hours !== undefined ? { hours: d.hours } : {}),
      ...(opts.showDetail ? { by: d.by, ...(d.note !== undefined ? { note: d.note } : {}) } : {}),
    })),
  };
}

export class CasePredictionResponse {
  @ApiProperty() caseId!: string;
  @ApiProperty() prediction!: Record<string, unknown>;
}
