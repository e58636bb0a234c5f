import { Module } from '@nestjs/common';
import { SubmissionsModule } from '../submissions/submissions.module';
import { EvaluationCoreModule } from './evaluation-core.module';
import { EvaluationController } from './evaluation.controller';

@Module({ imports: [EvaluationCoreModule, SubmissionsModule], controllers: [EvaluationController] })
export class EvaluationModule {}
