import { Module } from '@nestjs/common';
import { GrantsController } from './grants.controller';

/** The grants API (API only); the policy itself is in AccessModule. */
@Module({ controllers: [GrantsController] })
export class GrantsModule {}
