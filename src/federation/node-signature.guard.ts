import { applyDecorators, CanActivate, ExecutionContext, Inject, Injectable, Logger, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiHeader, ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';
import { NODE_SIGNED_KEY } from '../auth/auth.decorators';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode } from '../common/domain-error';
import { BODY_LIMIT_KEY, BODY_LIMITS, PREREAD_BODY, readBoundedBody } from '../common/json-body';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { QueueName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import { publicKeyFromBase64 } from '../reports/signing/ed25519';
import { NODE_HEADERS, NONCE_PATTERN, TIMESTAMP_PATTERN, UUID_PATTERN, verifyRequestSignature } from './node-protocol';
import { NodesRepository } from './nodes.repository';

/** What the guard leaves on the request: the node that signed it, and the key it signed with. */
export interface NodeRequest {
  node?: { id: string; keyId: string };
}

const refuse = (message: string, field: string, problem: string): DomainError => new DomainError(ErrorCode.Unauthenticated, message, [{ field, problem }]);

/** The same answer for an unknown node and a wrong signature: a caller learns nothing about which nodes exist. */
const UNKNOWN_OR_FORGED = (): DomainError =>
  refuse('unknown node, or the signature does not verify with its current key', NODE_HEADERS.signature, 'does not verify for this node id');

/**
 * Nonces seen, in Redis (SET NX EX): a signed request is accepted once. Kept past the timestamp window on both
 * sides, so a replay is refused by the nonce while it is inside the window and by the timestamp after.
 */
@Injectable()
export class NodeNonces {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queues: QueueService,
  ) {}

  /** True when the nonce was fresh (and is now spent). Throws 503 when Redis cannot say: no replay check, no entry. */
  async spend(nodeId: string, nonce: string): Promise<boolean> {
    const key = `${this.config.redis.queuePrefix}:node-nonce:${nodeId}:${nonce}`;
    try {
      const set = await this.queues.queue(QueueName.Scoring).client.set(key, '1', 'EX', 2 * this.config.federation.clockSkewS + 60, 'NX');
      return set === 'OK';
    } catch (error) {
      new Logger('NodeNonces').warn(`nonce store unavailable: ${(error as Error).message}`);
      throw new DomainError(ErrorCode.Unavailable, 'the hub cannot check request nonces right now; retry');
    }
  }
}

/**
 * Authenticates a node's request (docs in node-protocol.ts): headers well formed, timestamp within ±clockSkewS of
 * the hub's clock, a registered node whose current key verifies the signature over method, path with query,
 * timestamp, nonce, node id and the body's exact bytes, the node enabled, the nonce never seen. User credentials
 * are refused here, not ignored: a node route is never called with a token.
 */
@Injectable()
export class NodeSignatureGuard implements CanActivate {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly reflector: Reflector,
    private readonly nodes: NodesRepository,
    private readonly nonces: NodeNonces,
    private readonly clock: Clock,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & NodeRequest & { [PREREAD_BODY]?: Buffer }>();
    if (req.headers.authorization !== undefined || req.headers.cookie !== undefined) {
      throw refuse('node routes take a node signature, not a user token or session', 'Authorization', 'not accepted on node routes');
    }
    const header = (name: string): string => {
      const v = req.headers[name];
      if (typeof v !== 'string' || v.length === 0) throw refuse(`missing ${name} header (node routes need a signed request)`, name, 'missing');
      return v;
    };
    const nodeId = header(NODE_HEADERS.node);
    const timestamp = header(NODE_HEADERS.timestamp);
    const nonce = header(NODE_HEADERS.nonce);
    const signature = header(NODE_HEADERS.signature);
    if (!UUID_PATTERN.test(nodeId)) throw refuse(`${NODE_HEADERS.node} must be the node's id (a UUID)`, NODE_HEADERS.node, 'not a UUID');
    if (!TIMESTAMP_PATTERN.test(timestamp)) throw refuse(`${NODE_HEADERS.timestamp} must be milliseconds since the epoch`, NODE_HEADERS.timestamp, 'malformed');
    if (!NONCE_PATTERN.test(nonce)) throw refuse(`${NODE_HEADERS.nonce} must be 16-64 base64url characters`, NODE_HEADERS.nonce, 'malformed');
    const skewMs = Math.abs(this.clock.now().getTime() - Number(timestamp));
    if (skewMs > this.config.federation.clockSkewS * 1000) {
      throw refuse(`request timestamp is ${Math.round(skewMs / 1000)} s away from the hub's clock (allowed: ${this.config.federation.clockSkewS} s); check the node's clock`, NODE_HEADERS.timestamp, 'outside the window');
    }
    // The node and its key before the body is read: an unknown node is answered without reading what it sent.
    const node = await this.nodes.findById(nodeId);
    const key = node ? await this.nodes.currentKey(node.id) : null;
    const publicKey = key ? publicKeyFromBase64(key.publicKey) : undefined;
    if (!node || !key || !publicKey) throw UNKNOWN_OR_FORGED();
    const limit = this.reflector.get<number | undefined>(BODY_LIMIT_KEY, context.getHandler()) ?? BODY_LIMITS.default;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) throw new DomainError(ErrorCode.PayloadTooLarge, `body is larger than the ${limit}-byte limit of this route`, [{ field: 'body', problem: `larger than ${limit} bytes` }]);
    const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
    const body = hasBody
      ? await readBoundedBody(
          req,
          limit,
          () => new DomainError(ErrorCode.PayloadTooLarge, `body is larger than the ${limit}-byte limit of this route`, [{ field: 'body', problem: `larger than ${limit} bytes` }]),
          'body: the request broke off',
        )
      : Buffer.alloc(0);
    if (!verifyRequestSignature(publicKey, { method: req.method, pathWithQuery: req.originalUrl, timestamp, nonce, nodeId, body }, signature)) throw UNKNOWN_OR_FORGED();
    // Only the node itself (it signed) learns that it is disabled.
    if (!node.enabled) throw refuse('this node is disabled at the hub; an admin can re-enable it', NODE_HEADERS.node, 'disabled');
    if (!(await this.nonces.spend(nodeId, nonce))) throw refuse('this nonce was already used: a replayed request is refused', NODE_HEADERS.nonce, 'already used');
    if (hasBody) req[PREREAD_BODY] = body;
    req.node = { id: node.id, keyId: key.keyId };
    return true;
  }
}

/** A route that federated nodes call: authenticated by NodeSignatureGuard only (and shown so in the OpenAPI document). */
export const NodeSigned = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(NODE_SIGNED_KEY, true),
    UseGuards(NodeSignatureGuard),
    ApiSecurity('node-signature'),
    ApiHeader({ name: NODE_HEADERS.node, required: true, description: 'the node id the hub gave at registration' }),
    ApiHeader({ name: NODE_HEADERS.timestamp, required: true, description: 'ms since the epoch; within ±ASSAY_NODE_CLOCK_SKEW_S of the hub' }),
    ApiHeader({ name: NODE_HEADERS.nonce, required: true, description: '16-64 base64url characters, never reused' }),
    ApiHeader({ name: NODE_HEADERS.signature, required: true, description: 'Ed25519 (base64url) over the canonical request string (src/federation/node-protocol.ts)' }),
  );
