import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, ADMIN_ONLY, AccessTable, STAFF_ONLY } from '../auth/access.decorator';
import { CurrentPrincipal, Principal, Roles } from '../auth/auth.decorators';
import { Role } from '../auth/auth.entity';
import { DomainError, ErrorCode } from '../common/domain-error';
import { BodyLimit } from '../common/json-body';
import { NodeJobsService, SubmittedResult } from './node-jobs.service';
import { NodeRequest, NodeSigned } from './node-signature.guard';
import {
  HeartbeatDto,
  HeartbeatResponse,
  JobResultDto,
  JobResultResponse,
  LeaseDto,
  LeasedJobResponse,
  NodeCohortResponse,
  NodeResponse,
  RegisterCohortDto,
  RegisterNodeDto,
  RotateNodeKeyDto,
  toLeasedJobResponse,
  toNodeCohortResponse,
  UpdateNodeDto,
} from './nodes.dto';
import { NodesService } from './nodes.service';

/** Node routes take no user credential at all: every user caller is refused as unauthenticated. */
export const NODES_ONLY: AccessTable = { anonymous: '401', vendor: '401', vendorOther: '401', evaluator: '401', regulator: '401', regulatorGranted: '401', admin: '401' };

/** A result with per-case pseudonymised rows can be large (a few MB for thousands of cases). */
export const NODE_RESULT_BODY_LIMIT = 8 * 1024 * 1024;

@ApiTags('nodes')
@ApiBearerAuth()
@Controller('api/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Post()
  @HttpCode(201)
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Register a federated node with its Ed25519 public key (the private key stays on the node); audited' })
  register(@CurrentPrincipal() actor: Principal, @Body() body: RegisterNodeDto): Promise<NodeResponse> {
    return this.nodes.register(actor, { name: body.name, publicKey: body.publicKey, ...(body.policy ? { policy: body.policy } : {}) });
  }

  @Get()
  @Roles(Role.Admin, Role.Evaluator)
  @Access(STAFF_ONLY)
  @ApiOperation({ summary: 'Node health: online/offline, last seen, latency, versions, runtimes, GPUs, cohorts, queue depth, policy' })
  @ApiOkResponse({ type: [NodeResponse] })
  list(): Promise<NodeResponse[]> {
    return this.nodes.list();
  }

  @Patch(':id')
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Disable or re-enable a node (a disabled node is refused on every node route); audited' })
  update(@CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateNodeDto): Promise<NodeResponse> {
    if (body.enabled === undefined) throw new DomainError(ErrorCode.ValidationFailed, 'body: nothing to change (expected enabled)', [{ field: 'enabled', problem: 'missing' }]);
    return this.nodes.setEnabled(actor, id, body.enabled);
  }

  @Post(':id/keys')
  @HttpCode(201)
  @Roles(Role.Admin)
  @Access(ADMIN_ONLY)
  @ApiOperation({ summary: 'Rotate a node’s key: the new public key signs from now on and the old one is refused; audited' })
  rotate(@CurrentPrincipal() actor: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: RotateNodeKeyDto): Promise<NodeResponse> {
    return this.nodes.rotateKey(actor, id, body.publicKey);
  }
}

/** The routes a node calls (outbound from the hospital), each signed with the node's key. */
@ApiTags('node protocol')
@Controller('api/node')
@NodeSigned()
export class NodeApiController {
  constructor(
    private readonly nodes: NodesService,
    private readonly jobs: NodeJobsService,
  ) {}

  @Post('heartbeat')
  @HttpCode(200)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: 'A node’s heartbeat: versions, runtimes, GPUs, queue depth, cohorts, its policy, the latency it measured, and the jobs it works on; the answer names those to stop' })
  async heartbeat(@Req() req: Request & NodeRequest, @Body() body: HeartbeatDto): Promise<HeartbeatResponse> {
    const node = req.node as { id: string };
    await this.nodes.heartbeat(node.id, body);
    // A job cancelled at the hub (its run ended) reaches the node within one heartbeat, not at its next lease extension.
    const stop = await this.jobs.notHeld(node.id, body.jobs ?? []);
    return { nodeId: node.id, serverTime: new Date().toISOString(), stop };
  }

  @Post('jobs/lease')
  @HttpCode(200)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: 'Long poll: the next queued job of this node with a lease, or 204 after waitMs (at most 30 s)' })
  @ApiOkResponse({ type: LeasedJobResponse })
  @ApiNoContentResponse({ description: 'no job within waitMs' })
  async lease(@Req() req: Request & NodeRequest, @Res({ passthrough: true }) res: Response, @Body() body: LeaseDto): Promise<LeasedJobResponse | undefined> {
    const node = req.node as { id: string };
    // The caller may hang up while it waits: a lease made after that would only expire unused.
    const gone = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) gone.abort();
    };
    res.on('close', onClose);
    try {
      const job = await this.jobs.lease(node.id, body.waitMs ?? 0, gone.signal);
      if (!job) {
        res.status(204);
        return undefined;
      }
      return toLeasedJobResponse(job);
    } finally {
      res.off('close', onClose);
    }
  }

  @Post('jobs/:id/result')
  @HttpCode(200)
  @BodyLimit(NODE_RESULT_BODY_LIMIT)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: 'A signed result for a leased job: verified, stored with its signature; an identical re-send is answered 200 again' })
  async result(@Req() req: Request & NodeRequest, @Param('id', ParseUUIDPipe) id: string, @Body() body: JobResultDto): Promise<JobResultResponse> {
    // The signature covers the result exactly as sent: the plain JSON, not the DTO instance the pipe made of it.
    const raw = (req.body as { result: SubmittedResult['result'] }).result;
    const { job, alreadyStored } = await this.jobs.submitResult(req.node as { id: string; keyId: string }, id, { attempt: body.attempt, leaseToken: body.leaseToken, signature: body.signature, result: raw });
    return { jobId: job.id, attempt: job.attempt, outcome: job.outcome ?? body.result.outcome, alreadyStored };
  }

  @Post('cohorts')
  @HttpCode(200)
  @Access(NODES_ONLY)
  @ApiOperation({ summary: 'Register a cohort this node hosts, as metadata only (counts under 10 as "< 10"); a re-send with the same content hash is accepted' })
  async cohort(@Req() req: Request & NodeRequest, @Body() body: RegisterCohortDto): Promise<NodeCohortResponse> {
    return toNodeCohortResponse((await this.nodes.registerCohort((req.node as { id: string }).id, body)).cohort);
  }
}
