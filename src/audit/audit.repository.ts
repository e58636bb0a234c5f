import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Database } from '../database/database.module';
import { AuditEntryEntity } from './audit.entity';

/** Serialises appends: one writer at a time extends the chain (released at commit). */
const AUDIT_LOCK_KEY = 735_001;

@Injectable()
export class AuditRepository {
  constructor(private readonly db: Database) {}

  async lockChainAndReadHead(tx: EntityManager): Promise<{ seq: number; hash: string }> {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
    const rows: { seq: string; hash: string }[] = await tx.query('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const head = rows[0];
    return head ? { seq: Number(head.seq), hash: head.hash } : { seq: 0, hash: '' };
  }

  async insert(tx: EntityManager, entry: AuditEntryEntity): Promise<void> {
    await tx.insert(AuditEntryEntity, entry as QueryDeepPartialEntity<AuditEntryEntity>);
  }

  async findPage(afterSeq: number, limit: number): Promise<AuditEntryEntity[]> {
    return this.db
      .manager()
      .createQueryBuilder(AuditEntryEntity, 'a')
      .where('a.seq > :afterSeq', { afterSeq })
      .orderBy('a.seq', 'ASC')
      .limit(limit)
      .getMany();
  }
}
