import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthController } from '../auth/auth.controller';
import { BenchmarksController } from '../benchmarks/benchmarks.controller';
import { CohortsController } from '../cohorts/cohorts.controller';
import { GrantsController } from '../grants/grants.controller';
import { LeaderboardsController } from '../leaderboards/leaderboards.controller';
import { ReportsController } from '../reports/reports.controller';
import { EvaluationController } from '../runs/evaluation.controller';
import { SubmissionViewController } from '../runs/submission-view.controller';
import { SubmissionsController } from '../submissions/submissions.controller';

/**
 * The API's own handlers, the very instances Nest serves under /api, for the pages to call. A page thereby reads
 * exactly what its API twin returns, through the same services, with the same access rules, denials, audit records
 * and held-out rounding: there is no second path to the data.
 */
@Injectable()
export class ApiHandlers implements OnModuleInit {
  auth!: AuthController;
  benchmarks!: BenchmarksController;
  cohorts!: CohortsController;
  grants!: GrantsController;
  leaderboards!: LeaderboardsController;
  reports!: ReportsController;
  runs!: EvaluationController;
  submissions!: SubmissionViewController;
  intake!: SubmissionsController;

  constructor(private readonly modules: ModuleRef) {}

  onModuleInit(): void {
    const get = <T>(type: new (...args: never[]) => T): T => this.modules.get(type, { strict: false });
    this.auth = get(AuthController);
    this.benchmarks = get(BenchmarksController);
    this.cohorts = get(CohortsController);
    this.grants = get(GrantsController);
    this.leaderboards = get(LeaderboardsController);
    this.reports = get(ReportsController);
    this.runs = get(EvaluationController);
    this.submissions = get(SubmissionViewController);
    this.intake = get(SubmissionsController);
  }
}
