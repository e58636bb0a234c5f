import { Module } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { LeaderboardsModule } from '../leaderboards/leaderboards.module';
import { SubmissionsModule } from '../submissions/submissions.module';
import { EvaluationCoreModule } from './evaluation-core.module';
import { EvaluationController } from './evaluation.controller';
import { SubmissionViewController } from './submission-view.controller';
import { FederationModule } from '../federation/federation.module';
import { FederationDecisions } from './federation-decisions';

@Module({ imports: [EvaluationCoreModule, SubmissionsModule, BenchmarksModule, LeaderboardsModule, FederationModule], providers: [FederationDecisions], controllers: [EvaluationController, SubmissionViewController] })
export class EvaluationModule {}
