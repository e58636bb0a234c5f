import { Module, type ModuleMetadata } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { EvaluationCoreModule } from '../runs/evaluation-core.module';
import { SubmissionsModule } from '../submissions/submissions.module';
import { ReportRenderModule } from './render/report-render.module';
import { ReportJobs, ReportPipeline } from './report-pipeline';
import { ReportSigningModule } from './signing/report-signing.module';
import { ReportsRepository } from './reports.repository';
import { ReportsService } from './reports.service';
import { ReportsController, RunReportsController } from './reports.controller';

/** The modules that export the signer (REPORT_SIGNER, src/reports/signing/) and the renderer (REPORT_RENDERER, src/reports/render/). */
export const REPORT_ADAPTERS: NonNullable<ModuleMetadata['imports']> = [ReportSigningModule, ReportRenderModule];

/** Report generation (the worker consumes the jobs) and reading; the controllers serve only in the API process. */
@Module({
  imports: [EvaluationCoreModule, SubmissionsModule, BenchmarksModule, ...REPORT_ADAPTERS],
  providers: [ReportsRepository, ReportPipeline, ReportJobs, ReportsService],
  exports: [ReportPipeline, ReportJobs, ReportsService, ReportsRepository],
})
export class ReportsModule {}

/** The API's part: the report routes over the same module. */
@Module({ imports: [ReportsModule], controllers: [ReportsController, RunReportsController] })
export class ReportsApiModule {}
