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
   */
  async findActiveTokenWithUser(tokenHash: string, now: Date): Promise<{ token: Pick<ApiTokenEntity, 'id' | 'lastUsedAt'>; user: UserEntity } | null> {
    const { entities, raw } = await this.db
      .manager()
      .createQueryBuilder(UserEntity, 'u')
      .innerJoin(ApiTokenEntity, 't', 't.userId = u.id')
      .addSelect('t.id', 'token_id')
      .addSelect('t.lastUsedAt', 'token_last_used_at')
      .where('t.tokenHash = :tokenHash AND t.revokedAt IS NULL AND t.expiresAt > :now', { tokenHash, now })
      .getRawAndEntities<{ token_id: string; token_last_used_at: Date | null }>();
    const user = entities[0];
    const row = raw[0];
    return user && row ? { token: { id: row.token_id, lastUsedAt: row.token_last_used_at }, user } : null;
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
