import { Module } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';
import { RunArtifactsGc } from './run-artifacts';

/** The run state machine, shared by the API (creating and reading runs) and the worker (moving them on). */
@Module({ imports: [BenchmarksModule], providers: [EvaluationRepository, EvaluationService, RunArtifactsGc], exports: [EvaluationRepository, EvaluationService, RunArtifactsGc] })
export class EvaluationCoreModule {}
