import { Body, Controller, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req, StreamableFile } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { IsInt, IsString, Length, Min } from 'class-validator';
import type { Request } from 'express';
import { Access } from '../auth/access.decorator';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { Database } from '../database/database.module';
import { StorageService } from '../storage/storage.service';
import { SubmissionEntity } from '../submissions/submissions.entity';
import { NodeRequest, NodeSigned } from './node-signature.guard';
import { NodeJobEntity } from './nodes.entity';
import { NODES_ONLY } from './nodes.controller';

export class ArtifactGrantDto {
  @IsInt() @Min(1) attempt!: number;
  @IsString() @Length(16, 128) leaseToken!: string;
}

/**
 * A vendor's artefact for a node's leased evaluation job (issue 11): the grant is the lease itself (this node, this
 * job, this attempt, its token, before it expires), so it is short-lived and scoped to one run at one node. The
 * node verifies the bytes against the sha256 its job names before using them.
 */
@ApiTags('nodes')
@Controller('api/node')
@NodeSigned()
export class NodeArtifactsController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly clock: Clock,
  ) {}

  /**
   * Extends this node's live lease on a job by the hub's lease time (from now, by the database clock that judges
   * expiry): the agent calls it while a long evaluation runs, so the job is not handed out again under it.
   */
  @Post('jobs/:id/extend')
  @HttpCode(200)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: 'Extend this node’s live lease on a job while it works on it' })
  @ApiOkResponse({ description: '{ jobId, attempt, leaseExpiresAt }' })
  async extend(@Req() req: Request & NodeRequest, @Param('id', ParseUUIDPipe) id: string, @Body() body: ArtifactGrantDto): Promise<{ jobId: string; attempt: number; leaseExpiresAt: string }> {
    const node = req.node as { id: string };
    const rows: { lease_expires_at: Date }[] = await this.db.manager().query(
      `UPDATE node_jobs SET lease_expires_at = now() + ($5::int * interval '1 millisecond'), updated_at = now()
        WHERE id = $1 AND node_id = $2 AND status = 'leased' AND attempt = $3 AND lease_token = $4 AND lease_expires_at > now()
        RETURNING lease_expires_at`,
      [id, node.id, body.attempt, body.leaseToken, this.config.federation.leaseMs],
    );
    const row = Array.isArray(rows[0]) ? (rows[0] as unknown as { lease_expires_at: Date }[])[0] : rows[0];
    if (!row) {
      const job = await this.db.manager().findOneBy(NodeJobEntity, { id });
      if (!job || job.nodeId !== node.id) throw notFound('node job', id);
      // Either way the node stops working on it (the agent abandons the job and kills its container on a 409).
      if (job.status === 'cancelled') throw new DomainError(ErrorCode.Conflict, `job ${id} was cancelled: its run ended; stop working on it`, [{ field: 'attempt', problem: 'job cancelled' }]);
      throw new DomainError(ErrorCode.Conflict, `job ${id}: no live lease with this attempt and token`, [{ field: 'leaseToken', problem: 'the lease expired, was re-leased or is not this one' }]);
    }
    return { jobId: id, attempt: body.attempt, leaseExpiresAt: new Date(row.lease_expires_at).toISOString() };
  }

  @Post('jobs/:id/artifact')
  @HttpCode(200)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: "The submission's artefact (ONNX model or image tarball) for a job this node holds a live lease on" })
  @ApiOkResponse({ description: 'the artefact bytes (application/octet-stream), with X-Content-SHA256' })
  async artifact(@Req() req: Request & NodeRequest, @Param('id', ParseUUIDPipe) id: string, @Body() body: ArtifactGrantDto): Promise<StreamableFile> {
    const node = req.node as { id: string };
    const job = await this.db.manager().findOneBy(NodeJobEntity, { id });
    // Another node's job is not found: nothing says it exists.
    if (!job || job.nodeId !== node.id) throw notFound('node job', id);
    const live = job.status === 'leased' && job.leaseToken === body.leaseToken && job.attempt === body.attempt && (job.leaseExpiresAt?.getTime() ?? 0) > this.clock.now().getTime();
    if (!live) throw new DomainError(ErrorCode.Conflict, `job ${id}: no live lease with this attempt and token`, [{ field: 'leaseToken', problem: 'the lease expired, was re-leased or is not this one' }]);
    const submissionId = (job.payload['evaluation'] as { submission?: { id?: unknown } } | undefined)?.submission?.id;
    const submission = typeof submissionId === 'string' ? await this.db.manager().findOneBy(SubmissionEntity, { id: submissionId }) : null;
    if (!submission) throw notFound('artefact of node job', id);
    return new StreamableFile(await this.storage.getStream('submissions', submission.objectKey), {
      type: 'application/octet-stream',
      length: Number(submission.sizeBytes),
      disposition: 'attachment; filename="artifact"',
    });
  }
}
