import { Injectable } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/auth.decorators';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode } from '../common/domain-error';
import { Database } from '../database/database.module';
import { NodeJobsService } from '../federation/node-jobs.service';
import { RunEntity, type RunFederationState, RunStatus } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { FEDERATION_WORKER } from './federated-runs';

/** An extension is at most this long (30 days); the evaluator can extend again. */
export const MAX_EXTENSION_HOURS = 720;

/** The evaluator's decision on a federated run that waits for a node (issue 11: "a deadline after which the evaluator decides"). */
export class FederationDecisionDto {
  @ApiProperty({ enum: ['extend', 'cancel'], description: "extend: wait `hours` more (from the deadline, or from now when it has passed); cancel: end the run now (only once the deadline has passed); not the vendor's fault either way" })
  @IsIn(['extend', 'cancel'])
  decision!: 'extend' | 'cancel';
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_EXTENSION_HOURS, description: 'extend only: hours to add' })
  @ValidateIf((o: FederationDecisionDto) => o.decision === 'extend' || o.hours !== undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_EXTENSION_HOURS)
  hours?: number;
  @ApiPropertyOptional({ maxLength: 500, description: 'why: kept on the run and in the audit log' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  note?: string;
}

/** One decision as kept on the run (`federation.decisions`). */
export type FederationDecisionRecord = NonNullable<RunFederationState['decisions']>[number];

/**
 * The evaluator's decisions on federated runs in flight. Each is one transaction on the locked run row, audited; a
 * cancellation moves the run to `cancelled` (never counted as the vendor's fault) and cancels its open node jobs in
 * the same commit, so a node still working gets its result refused as stale and nothing more is handed out.
 */
@Injectable()
export class FederationDecisions {
  constructor(
    private readonly evaluation: EvaluationService,
    private readonly repository: EvaluationRepository,
    private readonly jobs: NodeJobsService,
    private readonly audit: AuditService,
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async decide(actor: Principal, runId: string, dto: FederationDecisionDto): Promise<RunEntity> {
    const now = this.clock.now();
    const record = (deadline: string): FederationDecisionRecord => ({
      at: now.toISOString(),
      by: actor.userId,
      decision: dto.decision,
      ...(dto.hours !== undefined ? { hours: dto.hours } : {}),
      ...(dto.note !== undefined ? { note: dto.note } : {}),
      deadline,
    });
    if (dto.decision === 'extend') {
      return this.db.transaction(async (tx) => {
        const run = await this.repository.lockRunForTransition(tx, runId);
        const state = this.waiting(run, runId);
        const from = Math.max(now.getTime(), Date.parse(state.deadline));
        const deadline = new Date(from + (dto.hours as number) * 3600_000).toISOString();
        const federation: RunFederationState = { ...state, deadline, decisions: [...(state.decisions ?? []), record(deadline)] };
        await this.repository.updateRun(tx, runId, { federation });
        await this.audit.record(tx, { actorUserId: actor.userId, action: 'run.federation_extended', entityType: 'run', entityId: runId, payload: { previousDeadline: state.deadline, deadline, hours: dto.hours, ...(dto.note ? { note: dto.note } : {}) } });
        return { ...(run as RunEntity), federation };
      });
    }
    // Decided on the run as locked: the deadline and the state are read under the row lock (an extension or a node's
    // result committed meanwhile is seen), and the patch is built from them. EvaluationService.transition reads
    // `patch` after `work` has run.
    const patch: Partial<RunEntity> = {};
    const auditPayload: Record<string, unknown> = { decision: 'cancel' };
    const done = await this.evaluation.transition(
      { runId, from: [RunStatus.Running], to: RunStatus.Cancelled, actorUserId: actor.userId, patch, auditPayload },
      async (tx, run) => {
        const state = this.waiting(run, runId);
        if (now.getTime() < Date.parse(state.deadline)) {
          throw new DomainError(ErrorCode.Conflict, `run ${runId} waits for its nodes until ${state.deadline}; it can be cancelled once that deadline has passed (or extend it)`, [{ field: 'decision', problem: `the deadline ${state.deadline} has not passed` }]);
        }
        const waitingFor = state.nodes.filter((n) => n.status !== 'done').map((n) => n.node);
        patch.federation = { ...state, decisions: [...(state.decisions ?? []), record(state.deadline)] };
        patch.failureDetail = `cancelled by the evaluator after the deadline ${state.deadline}, waiting for ${waitingFor.join(', ') || 'no node'}${dto.note ? `: ${dto.note}` : ''}`.slice(0, 2000);
        Object.assign(auditPayload, { deadline: state.deadline, waitingFor, ...(dto.note ? { note: dto.note } : {}) });
        await this.jobs.cancelJobsOfEndingRun(runId, tx);
      },
    );
    if (!done) {
      const run = await this.evaluation.requireRun(runId);
      this.waiting(run, runId);
      throw new DomainError(ErrorCode.Conflict, `run ${runId} is no longer waiting for its nodes`, [{ field: 'decision', problem: 'the run has moved on' }]);
    }
    return done;
  }

  /** The run's federation state, when it is a federated run still waiting for its nodes; a 409 otherwise. */
  private waiting(run: RunEntity | null, runId: string): RunFederationState {
    if (!run) throw new DomainError(ErrorCode.NotFound, `run ${runId} not found`, [{ field: 'id', problem: 'no such run' }]);
    if (!run.federation || run.workerId !== FEDERATION_WORKER || run.status !== RunStatus.Running) {
      throw new DomainError(ErrorCode.Conflict, `run ${runId} is not a federated run waiting for its nodes (status ${run.status})`, [{ field: 'id', problem: 'not waiting for nodes' }]);
    }
    return run.federation;
  }
}
