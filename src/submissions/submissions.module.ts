import { Module } from '@nestjs/common';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { SubmissionsController } from './submissions.controller';
import { SubmissionsRepository } from './submissions.repository';
import { SubmissionsService } from './submissions.service';

@Module({
  imports: [BenchmarksModule],
  providers: [SubmissionsRepository, SubmissionsService],
  controllers: [SubmissionsController],
  exports: [SubmissionsRepository, SubmissionsService],
})
export class SubmissionsModule {}
