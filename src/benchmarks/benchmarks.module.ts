import { Module } from '@nestjs/common';
import { CohortsModule } from '../cohorts/cohorts.module';
import { BenchmarksController } from './benchmarks.controller';
import { BenchmarksRepository } from './benchmarks.repository';
import { BenchmarksService } from './benchmarks.service';
import { CatalogueService } from './catalogue.service';

@Module({
  imports: [CohortsModule],
  providers: [BenchmarksRepository, BenchmarksService, CatalogueService],
  controllers: [BenchmarksController],
  exports: [BenchmarksService, CatalogueService, CohortsModule],
})
export class BenchmarksModule {}
