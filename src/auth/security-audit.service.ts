import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { Queue } from 'bull';
import { AuditService } from '../audit/audit.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { QueueName } from '../queue/queue.constants';
import { QueueService } from '../queue/queue.service';
import type { Principal } from './auth.decorators';

/** At most this many failed-authentication records per minute reach the audit chain, whatever the number of source IPs. */
export const FAILURE_RECORDS_PER_MINUTE = 60;
/** At most this many denial records per user per minute. */
export const DENIAL_RECORDS_PER_USER_MINUTE = 30;

/** Attacker-chosen text enters the audit chain only as printable ASCII, bounded. */
const printable = (s: string, max: number): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/**
 * Lockout of failed authentication and the security side of the audit log. Counters live in Redis, which every API
 * process shares, so N processes do not give an attacker N times the budget and a lockout holds across them.
 * Fixed window per source IP: the first failure opens it; after `maxFailures` in it, the IP is answered 429 (without a
 * token lookup) until the window ends. The audit chain is bounded: per IP and window one `auth.failed` (the first) and
 * one `auth.locked_out` (with the count), under a global cap per minute; denials are capped per user per minute.
 * When Redis is down the limiter fails open (a logged warning): tokens are 256-bit secrets, so the lockout guards cost,
 * not guessing, and an outage of Redis must not lock every client out.
 */
@Injectable()
export class SecurityAudit {
  private readonly logger = new Logger('SecurityAudit');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: Database,
    private readonly audit: AuditService,
    // Absent in the CLI's admin context, which authenticates nobody.
    @Optional() private readonly queues?: QueueService,
  ) {}

  /** The queue's own Redis connection: no second client to configure. */
  private redis(): Queue['client'] {
    if (!this.queues) throw new Error('no Redis connection in this process');
    return this.queues.queue(QueueName.Scoring).client;
  }

  private key(...parts: string[]): string {
    return `${this.config.redis.queuePrefix}:authz:${parts.join(':')}`;
  }

  /**
   * INCR with the window set on first use; returns the new count. The key is created with its expiry first (SET NX EX)
   * and only then counted: a process killed between the two leaves a key that still expires, never a lockout without
   * an end (INCR then EXPIRE would).
   */
  private async bump(key: string, windowS: number): Promise<number> {
    const redis = this.redis();
    await redis.set(key, '0', 'EX', windowS, 'NX');
    return redis.incr(key);
  }

  /**
   * A fixed-window rate limit per source IP for a public route that does real work per request (verifying an uploaded
   * report): returns the seconds to wait when the address is over `max` requests in `windowS`, else 0. Fails open when
   * Redis is away, as the lockout does.
   */
  async throttled(bucket: string, ip: string, max: number, windowS: number): Promise<number> {
    try {
      const key = this.key('rate', bucket, ip);
      const count = await this.bump(key, windowS);
      return count > max ? Math.max(1, await this.redis().ttl(key)) : 0;
    } catch (error) {
      this.logger.warn(`rate limit of ${bucket} skipped (Redis: ${(error as Error).message})`);
      return 0;
    }
  }

  /** Seconds the IP is still locked out for; 0 when it is not. */
  async lockedFor(ip: string): Promise<number> {
    try {
      const key = this.key('fail', ip);
      const count = Number((await this.redis().get(key)) ?? 0);
      if (count < this.config.auth.maxFailures) return 0;
      return Math.max(1, await this.redis().ttl(key));
    } catch (error) {
      this.logger.warn(`lockout check skipped (Redis: ${(error as Error).message})`);
      return 0;
    }
  }

  /** Counts one failed authentication; returns the seconds of lockout it starts (0: not locked). */
  async failedAuthentication(ip: string, reason: string, presented: string | null): Promise<number> {
    const windowS = this.config.auth.failureWindowS;
    let count: number;
    try {
      count = await this.bump(this.key('fail', ip), windowS);
    } catch (error) {
      this.logger.warn(`failed authentication not counted (Redis: ${(error as Error).message})`);
      return 0;
    }
    const max = this.config.auth.maxFailures;
    if (count === 1 || count === max) {
      const action = count === 1 ? 'auth.failed' : 'auth.locked_out';
      await this.recordCapped(this.key('failrec'), FAILURE_RECORDS_PER_MINUTE, {
        actorUserId: null,
        action,
        entityType: 'source_ip',
        entityId: printable(ip, 64),
        payload: { reason, failuresInWindow: count, windowSeconds: windowS, ...(presented ? { tokenPrefix: printable(presented, 12) } : {}) },
      });
    }
    return count >= max ? Math.max(1, await this.redis().ttl(this.key('fail', ip)).catch(() => windowS)) : 0;
  }

  /** A request refused by policy (403, or 404 that hides what exists). */
  async denied(principal: Principal, status: 403 | 404, what: { entityType: string; entityId: string; route: string }): Promise<void> {
    await this.recordCapped(this.key('denrec', principal.userId), DENIAL_RECORDS_PER_USER_MINUTE, {
      actorUserId: principal.userId,
      action: 'access.denied',
      entityType: what.entityType,
      entityId: printable(what.entityId, 200),
      payload: { status, route: what.route, role: principal.role },
    });
  }

  /** Every download of sample data, logs and per-case results. */
  async download(principal: Principal, what: { action: 'download.sample_data' | 'download.run_logs' | 'download.run_cases' | 'download.report'; entityType: string; entityId: string }): Promise<void> {
    await this.db.transaction((tx) => this.audit.record(tx, { actorUserId: principal.userId, action: what.action, entityType: what.entityType, entityId: what.entityId, payload: { role: principal.role } }));
  }

  /** A fixed 60 s window opened by the first record (not clock minutes, so a burst cannot straddle two budgets). */
  private async recordCapped(budgetKey: string, limit: number, event: Parameters<AuditService['record']>[1]): Promise<void> {
    try {
      if ((await this.bump(budgetKey, 60)) > limit) return;
      await this.db.transaction((tx) => this.audit.record(tx, event));
    } catch (error) {
      // A security record must never turn the refusal into a 500.
      this.logger.warn(`security audit record dropped: ${(error as Error).message}`);
    }
  }
}
