import { Module } from '@nestjs/common';
import { CohortsController } from './cohorts.controller';
import { CohortsRepository } from './cohorts.repository';
import { CohortsService } from './cohorts.service';

@Module({ providers: [CohortsRepository, CohortsService], controllers: [CohortsController], exports: [CohortsService] })
export class CohortsModule {}
