import { Module } from '@nestjs/common';
import { NodeJobsService, NodeJobWakeups } from './node-jobs.service';
import { NodeNonces, NodeSignatureGuard } from './node-signature.guard';
import { NodeApiController, NodesController } from './nodes.controller';
import { NodeJobsRepository, NodesRepository } from './nodes.repository';
import { NodesService } from './nodes.service';
import { NodeArtifactsController } from './node-artifacts.controller';
import { StorageModule } from '../storage/storage.module';

/**
 * Federation, hub side (issue 11): node identity and health, the signed node protocol, and the node job queue that
 * run fan-out enqueues into (NodeJobsService.enqueue). The node side (NodeAgent, src/node.ts) shares only the pure
 * protocol and policy code with it.
 */
@Module({
  imports: [StorageModule],
  providers: [NodesRepository, NodeJobsRepository, NodesService, NodeJobsService, NodeJobWakeups, NodeNonces, NodeSignatureGuard],
  controllers: [NodesController, NodeApiController, NodeArtifactsController],
  exports: [NodeJobsService, NodesService, NodesRepository],
})
export class FederationModule {}
