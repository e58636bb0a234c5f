import { Body, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AuthService } from '../auth/auth.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { EventStreamLimiter } from './event-streams';
import { Access, OWNER_STAFF_GRANTED, STAFF_ONLY } from '../auth/access.decorator';
import { FederationDecisionDto, FederationDecisions } from './federation-decisions';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { SecurityAudit } from '../auth/security-audit.service';
import { GrantsService } from '../grants/grants.service';
import { Role } from '../auth/auth.entity';
import { credentialOf } from '../auth/web-session';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode } from '../common/domain-error';
import { SubmissionsService } from '../submissions/submissions.service';
import { toRunSummary } from './run-summary';
import { CasePredictionResponse, RunDetailResponse, toDeterminismResponse, toRunFederationResponse } from './evaluation.dto';
import { RunEntity } from './evaluation.entity';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { TERMINAL_STATUSES } from './run-state-machine';
import { LeaderboardsService } from '../leaderboards/leaderboards.service';
import { escapeLogBytes, LOG_ESCAPING } from '../sandbox/capped-log';

/** GET /api/runs/:id/logs (default format): the stored bytes, escaped as escapeLogBytes describes. */
interface RunLogsResponse {
  runId: string;
  /** Length of the stored log in bytes (what ?format=raw returns). */
  sizeBytes: number;
  escaping: typeof LOG_ESCAPING;
  text: string;
}

/** How often a live event stream re-checks its token and the caller's access. */
const EVENT_STREAM_RECHECK_MS = 10_000;

/** Regulators pass the guard; what they read is decided by their grants (accessibleRun). */
const READERS = [Role.Vendor, Role.Evaluator, Role.Admin, Role.Regulator];
/** Held-out detail (logs, per-case results) of the fixture's test run: vendors are refused it. */
const HELD_OUT_DETAIL = { ...OWNER_STAFF_GRANTED, vendor: '403' } as const;

@ApiTags('runs')
@ApiBearerAuth()
@Controller('api/runs')
export class EvaluationController {
  constructor(
    private readonly evaluation: EvaluationService,
    private readonly repository: EvaluationRepository,
    private readonly submissions: SubmissionsService,
    private readonly clock: Clock,
    private readonly benchmarks: BenchmarksService,
    private readonly leaderboards: LeaderboardsService,
    private readonly grants: GrantsService,
    private readonly security: SecurityAudit,
    private readonly auth: AuthService,
    private readonly decisions: FederationDecisions,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.streams = new EventStreamLimiter(config.http.ssePerUser);
  }

  private readonly streams: EventStreamLimiter;

  private async accessibleRun(principal: Principal, id: string, route: string): Promise<RunEntity> {
    const run = await this.evaluation.requireRun(id);
    // Another organisation's run, or one no grant of the regulator covers, is not-found: its existence does not leak.
    if (principal.role === Role.Regulator) {
      if (!(await this.grants.regulatorMayRead(principal, { submissionId: run.submissionId, benchmarkVersionId: run.benchmarkVersionId }))) await this.grants.deny(principal, 'run', id, route);
      return run;
    }
    const accessible = await this.submissions.requireAccessible(principal, run.submissionId).then(
      () => true,
      () => false,
    );
    if (!accessible) await this.grants.deny(principal, 'run', id, route);
    return run;
  }

  @Get(':id')
  @Roles(...READERS)
  @Access(OWNER_STAFF_GRANTED)
  @ApiOperation({ summary: 'Status, progress, pins, timings and (once succeeded) metrics, calibration and subgroup tables of a run' })
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<RunDetailResponse> {
    const run = await this.accessibleRun(principal, id, 'GET /api/runs/:id');
    const result = await this.evaluation.findResult(run.id);
    const showDetail = this.evaluation.mayShowDetail(principal, run);
    // Held-out scores go through the same feedback rules as the public leaderboard (rounding, release, Ladder).
    const scores = await this.leaderboards.runScoresFor(principal, run, result?.metrics ?? null);
    const waitingForGpuWorker = await this.evaluation.waitingForGpuWorker(await this.benchmarks.requireVersion(run.benchmarkVersionId));
    return {
      ...toRunSummary(run, { showDetail, waitingForGpuWorker }, this.clock.now()),
      submissionId: run.submissionId,
      split: run.split,
      attempts: run.attempts,
      pins: {
        modelSha256: run.modelSha256,
        cohortContentHash: run.cohortContentHash,
        benchmarkContentHash: run.benchmarkContentHash,
        metricCodeVersion: run.metricCodeVersion,
        runnerImageId: run.runnerImageId,
        sandboxRuntime: run.sandboxRuntime,
      },
      timings: run.timings as Record<string, number>,
      metrics: scores.metrics,
      feedback: scores.feedback,
      // Details hold the confusion counts and subgroup tables: on held-out runs, full-precision readers only.
      details: result && showDetail && scores.feedback.mechanism === 'full' ? result.details : null,
      // Case ids and the detail are per-case feedback on held-out cases: not for the vendor.
      determinism: toDeterminismResponse(run.determinism, { showDetail }),
      federation: toRunFederationResponse(run.federation, { showDetail: principal.role === Role.Admin || principal.role === Role.Evaluator }, this.clock.now()),
    };
  }

  @Post(':id/federation/decision')
  @HttpCode(200)
  @Roles(Role.Evaluator, Role.Admin)
  @Access(STAFF_ONLY)
  @ApiOperation({ summary: "A federated run waiting for a node: extend its deadline, or cancel it once the deadline has passed (audited; never the vendor's fault)" })
  async federationDecision(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: FederationDecisionDto): Promise<RunDetailResponse> {
    await this.decisions.decide(principal, id, body);
    return this.get(principal, id);
  }

  @Get(':id/logs')
  @Roles(...READERS)
  @Access(HELD_OUT_DETAIL)
  @ApiProduces('application/json', 'application/octet-stream')
  @ApiQuery({ name: 'format', required: false, enum: ['json', 'raw'], description: 'json (default): the log escaped as text; raw: the bytes as the container wrote them' })
  @ApiOperation({ summary: 'Container logs (capped): vendors see them for public (sample) phases only' })
  async logs(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Query('format') format: unknown, @Res() res: Response): Promise<void> {
    if (format !== undefined && format !== 'json' && format !== 'raw') {
      throw new DomainError(ErrorCode.ValidationFailed, "format must be 'json' or 'raw'", [{ field: 'format', problem: "must be 'json' or 'raw'" }]);
    }
    const run = await this.accessibleRun(principal, id, 'GET /api/runs/:id/logs');
    if (!this.evaluation.mayShowDetail(principal, run)) {
      await this.security.denied(principal, 403, { entityType: 'run', entityId: id, route: 'GET /api/runs/:id/logs' });
      throw new DomainError(ErrorCode.Forbidden, 'logs of held-out runs are for evaluators only');
    }
    await this.security.download(principal, { action: 'download.run_logs', entityType: 'run', entityId: run.id });
    // Logs are bytes (NUL, invalid UTF-8): raw as a download that no browser renders, otherwise escaped.
    const bytes = run.logs ?? Buffer.alloc(0);
    if (format === 'raw') {
      res.set({ 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="run-${run.id}.log"`, 'X-Content-Type-Options': 'nosniff' }).send(bytes);
      return;
    }
    const body: RunLogsResponse = { runId: run.id, sizeBytes: bytes.length, escaping: LOG_ESCAPING, text: escapeLogBytes(bytes) };
    res.json(body);
  }

  @Get(':id/cases')
  @Roles(...READERS)
  @Access(HELD_OUT_DETAIL)
  @ApiOperation({ summary: 'Per-case predictions: vendors see them for public (sample) phases only' })
  async cases(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<CasePredictionResponse[]> {
    const run = await this.accessibleRun(principal, id, 'GET /api/runs/:id/cases');
    if (!this.evaluation.mayShowDetail(principal, run)) {
      await this.security.denied(principal, 403, { entityType: 'run', entityId: id, route: 'GET /api/runs/:id/cases' });
      throw new DomainError(ErrorCode.Forbidden, 'no per-case feedback on held-out cases');
    }
    await this.security.download(principal, { action: 'download.run_cases', entityType: 'run', entityId: run.id });
    return (await this.repository.findPredictions(run.id)).map((p) => ({ caseId: p.caseId, prediction: p.prediction }));
  }

  @Get(':id/events')
  @Roles(...READERS)
  @Access(OWNER_STAFF_GRANTED)
  @ApiProduces('text/event-stream')
  @ApiOperation({ summary: 'Server-sent events: one "run" event per change of status or progress; the stream ends when the run does' })
  async events(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const first = await this.accessibleRun(principal, id, 'GET /api/runs/:id/events');
    if (!this.streams.acquire(principal.userId)) {
      throw new DomainError(ErrorCode.TooManyRequests, `at most ${this.streams.maxPerUser} live event streams per user; close one first`, [{ field: 'Authorization', problem: `more than ${this.streams.maxPerUser} live event streams` }]);
    }
    try {
      res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.flushHeaders();
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      let last = '';
      let run: RunEntity | null = first;
      const started = Date.now();
      let checked = started;
      const waitingForGpuWorker = await this.evaluation.waitingForGpuWorker(await this.benchmarks.requireVersion(first.benchmarkVersionId));
      // Workers write state to Postgres from any host; polling the row keeps this correct across processes.
      while (!closed && run && Date.now() - started < 30 * 60_000) {
        if (Date.now() - checked >= EVENT_STREAM_RECHECK_MS) {
          // A revoked or expired token, or a withdrawn grant, ends the stream within the recheck interval.
          checked = Date.now();
          if (!(await this.stillAllowed(principal, req, id))) break;
        }
        const summary = toRunSummary(run, { showDetail: this.evaluation.mayShowDetail(principal, run), waitingForGpuWorker }, this.clock.now());
        const key = `${summary.status}:${summary.casesDone}`;
        if (key !== last) {
          res.write(`event: run\ndata: ${JSON.stringify(summary)}\n\n`);
          last = key;
        }
        if (TERMINAL_STATUSES.includes(run.status)) break;
        await new Promise((r) => setTimeout(r, 250));
        run = await this.repository.findRun(id);
      }
      res.end();
    } finally {
      this.streams.release(principal.userId);
    }
  }

  private async stillAllowed(principal: Principal, req: Request, runId: string): Promise<boolean> {
    // The bearer header, or the web session's cookie (src/auth/web-session.ts): whichever the stream was opened with.
    const credential = credentialOf(req);
    const now = credential ? await this.auth.authenticate(credential.token).catch(() => null) : null;
    if (!now || now.userId !== principal.userId) return false;
    return this.accessibleRun(principal, runId, 'GET /api/runs/:id/events').then(
      () => true,
      () => false,
    );
  }
}
