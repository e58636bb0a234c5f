import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Clock } from '../common/clock';
import { sha256OfCanonical } from '../common/hashing';
import { AuditEntryEntity } from './audit.entity';
import { AuditRepository } from './audit.repository';

export interface AuditEvent {
  actorUserId: string | null;
  action: string;
  entityType: string;
  entityId: string;
  payload?: Record<string, unknown>;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  headHash: string;
  /** First sequence number whose hash or link does not check out. */
  brokenAt: number | null;
  problem: string | null;
}

export function auditHash(entry: Omit<AuditEntryEntity, 'hash'>): string {
  return sha256OfCanonical({
    seq: Number(entry.seq),
    at: entry.at.toISOString(),
    actorUserId: entry.actorUserId,
    action: entry.action,
    entityType: entry.entityType,
    entityId: entry.entityId,
    payload: entry.payload,
    prevHash: entry.prevHash,
  });
}

/** Every change of state is written here, in the same transaction as the change itself. */
@Injectable()
export class AuditService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly clock: Clock,
  ) {}

  async record(tx: EntityManager, event: AuditEvent): Promise<void> {
    const head = await this.repository.lockChainAndReadHead(tx);
    const entry: Omit<AuditEntryEntity, 'hash'> = {
      seq: String(head.seq + 1),
      at: this.clock.now(),
      actorUserId: event.actorUserId,
      action: event.action,
      entityType: event.entityType,
      entityId: event.entityId,
      payload: event.payload ?? {},
      prevHash: head.hash,
    };
    await this.repository.insert(tx, { ...entry, hash: auditHash(entry) } as AuditEntryEntity);
  }

  async verify(): Promise<AuditVerification> {
    let prev = { seq: 0, hash: '' };
    let entries = 0;
    for (;;) {
      const page = await this.repository.findPage(prev.seq, 1000);
      if (page.length === 0) break;
      for (const row of page) {
        const seq = Number(row.seq);
        const fail = (problem: string): AuditVerification => ({ ok: false, entries, headHash: prev.hash, brokenAt: seq, problem });
        if (seq !== prev.seq + 1) return fail(`sequence gap: expected ${prev.seq + 1}`);
        if (row.prevHash !== prev.hash) return fail('prevHash does not match the previous entry');
        if (auditHash(row) !== row.hash) return fail('hash does not match the entry content');
        prev = { seq, hash: row.hash };
        entries++;
      }
    }
    return { ok: true, entries, headHash: prev.hash, brokenAt: null, problem: null };
  }

  async list(afterSeq: number, limit: number): Promise<AuditEntryEntity[]> {
    return this.repository.findPage(afterSeq, Math.min(Math.max(limit, 1), 1000));
  }
}
