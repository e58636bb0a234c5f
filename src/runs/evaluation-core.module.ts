import { Module } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { EvaluationRepository } from './evaluation.repository';
import { EvaluationService } from './evaluation.service';

/** The run state machine, shared by the API (creating and reading runs) and the worker (moving them on). */
@Module({ imports: [BenchmarksModule], providers: [EvaluationRepository, EvaluationService], exports: [EvaluationRepository, EvaluationService] })
export class EvaluationCoreModule {}
