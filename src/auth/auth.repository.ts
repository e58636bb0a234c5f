import { Injectable } from '@nestjs/common';
import { EntityManager, IsNull } from 'typeorm';
import { Database } from '../database/database.module';
import { ApiTokenEntity, OrganisationEntity, Role, UserEntity } from './auth.entity';

@Injectable()
export class AuthRepository {
  constructor(private readonly db: Database) {}

  async findActiveTokenWithUser(tokenHash: string): Promise<{ token: ApiTokenEntity; user: UserEntity } | null> {
    const m = this.db.manager();
    const token = await m.findOneBy(ApiTokenEntity, { tokenHash, revokedAt: IsNull() });
    if (!token) return null;
    const user = await m.findOneBy(UserEntity, { id: token.userId });
    return user ? { token, user } : null;
  }

  async touchToken(id: string, at: Date): Promise<void> {
    await this.db.manager().update(ApiTokenEntity, { id }, { lastUsedAt: at });
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

  async insertToken(tx: EntityManager, token: { userId: string; label: string; tokenHash: string; prefix: string }): Promise<ApiTokenEntity> {
    return tx.save(tx.create(ApiTokenEntity, token));
  }
}
