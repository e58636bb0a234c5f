import { Injectable } from '@nestjs/common';
import { EntityManager, IsNull } from 'typeorm';
import { Database } from '../database/database.module';
import { ApiTokenEntity, OrganisationEntity, Role, UserEntity } from './auth.entity';

@Injectable()
export class AuthRepository {
  constructor(private readonly db: Database) {}

  /**
   * The live token with this hash and its user, in one statement: every authenticated request makes it, and a round
   * trip to the database is most of an API read's time (perf/RESULTS.md). Revoked and expired tokens are not found.
   * Plain SQL, not the query builder: building and hydrating that query was about 30 KB of garbage a request.
   */
  async findActiveTokenWithUser(tokenHash: string, now: Date): Promise<{ token: Pick<ApiTokenEntity, 'id' | 'lastUsedAt'>; user: UserEntity } | null> {
    const rows = (await this.db.manager().query(
      `SELECT t.id AS token_id, t.last_used_at, u.id, u.email, u.display_name, u.role, u.organisation_id, u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2`,
      [tokenHash, now],
    )) as { token_id: string; last_used_at: Date | null; id: string; email: string; display_name: string; role: Role; organisation_id: string | null; created_at: Date }[];
    const row = rows[0];
    if (!row) return null;
    const user = Object.assign(new UserEntity(), { id: row.id, email: row.email, displayName: row.display_name, role: row.role, organisationId: row.organisation_id, createdAt: row.created_at });
    return { token: { id: row.token_id, lastUsedAt: row.last_used_at }, user };
  }

  /** One conditional UPDATE; a no-op while the stamp is younger than `minAgeMs`. */
  async touchToken(id: string, at: Date, minAgeMs: number): Promise<void> {
    await this.db
      .manager()
      .query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)', [id, at, new Date(at.getTime() - minAgeMs)]);
  }

  listTokensOfUser(userId: string): Promise<ApiTokenEntity[]> {
    return this.db.manager().find(ApiTokenEntity, { where: { userId }, order: { createdAt: 'ASC' } });
  }

  async findTokenById(id: string, tx?: EntityManager): Promise<ApiTokenEntity | null> {
    return this.db.manager(tx).findOneBy(ApiTokenEntity, { id });
  }

  async revokeToken(tx: EntityManager, id: string, at: Date): Promise<void> {
    await tx.update(ApiTokenEntity, { id, revokedAt: IsNull() }, { revokedAt: at });
  }

  async insertOrganisation(tx: EntityManager, name: string): Promise<OrganisationEntity> {
    return tx.save(tx.create(OrganisationEntity, { name }));
  }

  async findOrganisationByName(name: string, tx?: EntityManager): Promise<OrganisationEntity | null> {
    return this.db.manager(tx).findOneBy(OrganisationEntity, { name });
  }

  async findOrganisationById(id: string): Promise<OrganisationEntity | null> {
    return this.db.manager().findOneBy(OrganisationEntity, { id });
  }

  async listOrganisations(): Promise<OrganisationEntity[]> {
    return this.db.manager().find(OrganisationEntity, { order: { name: 'ASC' } });
  }

  async insertUser(
    tx: EntityManager,
    user: { email: string; displayName: string; role: Role; organisationId: string | null },
  ): Promise<UserEntity> {
    return tx.save(tx.create(UserEntity, user));
  }

  async findUserByEmail(email: string, tx?: EntityManager): Promise<UserEntity | null> {
    return this.db.manager(tx).findOneBy(UserEntity, { email });
  }

  async findUserById(id: string, tx?: EntityManager): Promise<UserEntity | null> {
    return this.db.manager(tx).findOneBy(UserEntity, { id });
  }

  listUsers(email?: string): Promise<UserEntity[]> {
    return this.db.manager().find(UserEntity, { where: email ? { email } : {}, order: { email: 'ASC' } });
  }

  async countAdmins(tx?: EntityManager): Promise<number> {
    return this.db.manager(tx).countBy(UserEntity, { role: Role.Admin });
  }

  async insertToken(tx: EntityManager, token: { userId: string; label: string; tokenHash: string; prefix: string; expiresAt: Date }): Promise<ApiTokenEntity> {
    return tx.save(tx.create(ApiTokenEntity, token));
  }
}
