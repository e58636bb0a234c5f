import { Module, type Provider } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { EvaluationCoreModule } from '../runs/evaluation-core.module';
import { SubmissionsModule } from '../submissions/submissions.module';
import { ReportJobs, ReportPipeline } from './report-pipeline';
import { ReportsRepository } from './reports.repository';
import { ReportsService } from './reports.service';
import { ReportsController, RunReportsController } from './reports.controller';

/**
 * The signer (REPORT_SIGNER, src/reports/signing/) and renderer (REPORT_RENDERER, src/reports/render/) providers.
 * Until they are listed here the pipeline reports that it is not wired (ReportPipeline.ready) and jobs fail with that.
 */
export const REPORT_ADAPTERS: Provider[] = [];

/** Report generation (the worker consumes the jobs) and reading; the controllers serve only in the API process. */
@Module({
  imports: [EvaluationCoreModule, SubmissionsModule, BenchmarksModule],
  providers: [ReportsRepository, ReportPipeline, ReportJobs, ReportsService, ...REPORT_ADAPTERS],
  exports: [ReportPipeline, ReportJobs, ReportsService, ReportsRepository],
})
export class ReportsModule {}

/** The API's part: the report routes over the same module. */
@Module({ imports: [ReportsModule], controllers: [ReportsController, RunReportsController] })
export class ReportsApiModule {}
