import { Injectable } from '@nestjs/common';
import { EntityManager, IsNull } from 'typeorm';
import { Database } from '../../database/database.module';
import { ReportSigningKeyEntity } from './report-keys.entity';

@Injectable()
export class ReportKeysRepository {
  constructor(private readonly db: Database) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /** Serialises key creation and rotation across every process sharing the database (released at commit). */
  async lockForKeyChange(tx: EntityManager): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', ['report-signing-keys']);
  }

  /** Unretired keys, newest first. */
  findUnretired(tx?: EntityManager): Promise<ReportSigningKeyEntity[]> {
    return this.db.manager(tx).find(ReportSigningKeyEntity, { where: { retiredAt: IsNull() }, order: { createdAt: 'DESC', keyId: 'ASC' } });
  }

  findAll(): Promise<ReportSigningKeyEntity[]> {
    return this.db.manager().find(ReportSigningKeyEntity, { order: { createdAt: 'ASC', keyId: 'ASC' } });
  }

  async findByKeyId(keyId: string): Promise<ReportSigningKeyEntity | null> {
    return this.db.manager().findOne(ReportSigningKeyEntity, { where: { keyId } });
  }

  async insert(tx: EntityManager, key: ReportSigningKeyEntity): Promise<void> {
    await tx.insert(ReportSigningKeyEntity, key);
  }

  async retireAllExcept(tx: EntityManager, keyId: string, at: Date): Promise<string[]> {
    const rows: { key_id: string }[] = await tx.query('UPDATE report_signing_keys SET retired_at = $2 WHERE retired_at IS NULL AND key_id <> $1 RETURNING key_id', [keyId, at]);
    // node-postgres gives [rows, count] for UPDATE … RETURNING through TypeORM's query().
    const list = Array.isArray(rows[0]) ? (rows[0] as unknown as { key_id: string }[]) : rows;
    return list.map((r) => r.key_id).sort();
  }
}
