import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { DomainError, ErrorCode, notFound } from '../common/domain-error';
import { randomToken, sha256Hex } from '../common/hashing';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { Database } from '../database/database.module';
import { Principal } from './auth.decorators';
import { ApiTokenEntity, OrganisationEntity, Role, UserEntity } from './auth.entity';
import { AuthRepository } from './auth.repository';

export const TOKEN_PREFIX = 'assay_';

export interface IssuedToken {
  token: string;
  tokenId: string;
  userId: string;
  expiresAt: string;
}

/** What a listing shows of a token: never the hash, never the secret. */
export interface TokenInfo {
  id: string;
  label: string;
  prefix: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The last-used stamp is written at most this often per token. */
export const LAST_USED_RESOLUTION_MS = 60_000;
const DAY_MS = 86_400_000;

const toTokenInfo = (t: ApiTokenEntity): TokenInfo => ({
  id: t.id,
  label: t.label,
  prefix: t.prefix,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt.toISOString(),
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  revokedAt: t.revokedAt?.toISOString() ?? null,
});

@Injectable()
export class AuthService {
  constructor(
    private readonly repository: AuthRepository,
    private readonly db: Database,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async authenticate(bearer: string): Promise<Principal | null> {
    if (!bearer.startsWith(TOKEN_PREFIX) || bearer.length > 200) return null;
    const now = this.clock.now();
    const found = await this.repository.findActiveTokenWithUser(sha256Hex(bearer), now);
    if (!found) return null;
    // Best effort and at most once a minute; never fail a request over the last-used stamp.
    const last = found.token.lastUsedAt;
    if (!last || now.getTime() - last.getTime() >= LAST_USED_RESOLUTION_MS) {
      void this.repository.touchToken(found.token.id, now, LAST_USED_RESOLUTION_MS).catch(() => undefined);
    }
    const { user } = found;
    return { userId: user.id, role: user.role, organisationId: user.organisationId, email: user.email };
  }

  async createOrganisation(actor: Principal | null, name: string): Promise<OrganisationEntity> {
    return this.db.transaction(async (tx) => {
      if (await this.repository.findOrganisationByName(name, tx)) {
        throw new DomainError(ErrorCode.Conflict, `organisation '${name}' already exists`, [{ field: 'name', problem: 'already exists' }]);
      }
      const org = await this.repository.insertOrganisation(tx, name);
      await this.audit.record(tx, { actorUserId: actor?.userId ?? null, action: 'organisation.created', entityType: 'organisation', entityId: org.id, payload: { name } });
      return org;
    });
  }

  async createUser(
    actor: Principal | null,
    input: { email: string; displayName: string; role: Role; organisationId?: string | null },
  ): Promise<UserEntity> {
    const organisationId = input.organisationId ?? null;
    if (input.role === Role.Vendor && !organisationId) {
      throw new DomainError(ErrorCode.ValidationFailed, 'a vendor belongs to an organisation', [{ field: 'organisationId', problem: 'required for role vendor' }]);
    }
    if (input.role !== Role.Vendor && organisationId) {
      throw new DomainError(ErrorCode.ValidationFailed, 'only vendors belong to an organisation', [{ field: 'organisationId', problem: `must be empty for role ${input.role}` }]);
    }
    return this.db.transaction(async (tx) => {
      if (organisationId && !(await this.repository.findOrganisationById(organisationId))) throw notFound('organisation', organisationId);
      if (await this.repository.findUserByEmail(input.email, tx)) {
        throw new DomainError(ErrorCode.Conflict, `user '${input.email}' already exists`, [{ field: 'email', problem: 'already exists' }]);
      }
      const user = await this.repository.insertUser(tx, { email: input.email, displayName: input.displayName, role: input.role, organisationId });
      await this.audit.record(tx, { actorUserId: actor?.userId ?? null, action: 'user.created', entityType: 'user', entityId: user.id, payload: { email: user.email, role: user.role, organisationId } });
      return user;
    });
  }

  /** The secret is returned once; only its sha256 is stored. Expiry: the configured default, at most the maximum. */
  async issueToken(actor: Principal | null, userId: string, label: string, expiresAt?: Date): Promise<IssuedToken> {
    const now = this.clock.now();
    const { tokenDefaultDays, tokenMaxDays } = this.config.auth;
    const latest = new Date(now.getTime() + tokenMaxDays * DAY_MS);
    const expires = expiresAt ?? new Date(now.getTime() + tokenDefaultDays * DAY_MS);
    if (expires.getTime() <= now.getTime()) throw new DomainError(ErrorCode.ValidationFailed, 'expiresAt: must be in the future', [{ field: 'expiresAt', problem: 'must be in the future' }]);
    if (expires.getTime() > latest.getTime()) {
      throw new DomainError(ErrorCode.ValidationFailed, `expiresAt: at most ${tokenMaxDays} days from now (${latest.toISOString()})`, [{ field: 'expiresAt', problem: `at most ${tokenMaxDays} days from now` }]);
    }
    return this.db.transaction(async (tx) => {
      const user = await this.repository.findUserById(userId, tx);
      if (!user) throw notFound('user', userId);
      const token = `${TOKEN_PREFIX}${randomToken(32)}`;
      const row = await this.repository.insertToken(tx, { userId, label, tokenHash: sha256Hex(token), prefix: token.slice(0, 12), expiresAt: expires });
      await this.audit.record(tx, { actorUserId: actor?.userId ?? null, action: 'token.issued', entityType: 'api_token', entityId: row.id, payload: { userId, label, prefix: row.prefix, expiresAt: expires.toISOString() } });
      return { token, tokenId: row.id, userId, expiresAt: expires.toISOString() };
    });
  }

  async listOwnTokens(principal: Principal): Promise<TokenInfo[]> {
    return (await this.repository.listTokensOfUser(principal.userId)).map(toTokenInfo);
  }

  /** A user revokes its own tokens; an admin any token. Another user's token is reported absent. */
  async revokeToken(actor: Principal, id: string): Promise<TokenInfo> {
    return this.db.transaction(async (tx) => {
      const token = await this.repository.findTokenById(id, tx);
      if (!token || (token.userId !== actor.userId && actor.role !== Role.Admin)) throw notFound('token', id);
      if (!token.revokedAt) {
        await this.repository.revokeToken(tx, id, this.clock.now());
        await this.audit.record(tx, { actorUserId: actor.userId, action: 'token.revoked', entityType: 'api_token', entityId: id, payload: { userId: token.userId, prefix: token.prefix } });
      }
      return toTokenInfo((await this.repository.findTokenById(id, tx)) as ApiTokenEntity);
    });
  }

  /** Set-up: the first admin and its token. Refuses when an admin exists, unless asked to add another. */
  async bootstrapAdmin(input: { email: string; displayName: string; allowAdditional: boolean }): Promise<IssuedToken> {
    const existing = await this.repository.findUserByEmail(input.email);
    if (existing) {
      if (existing.role !== Role.Admin) throw new DomainError(ErrorCode.Conflict, `${input.email} exists and is not an admin`);
      return this.issueToken(null, existing.id, 'bootstrap');
    }
    if (!input.allowAdditional && (await this.repository.countAdmins()) > 0) {
      throw new DomainError(ErrorCode.Conflict, 'an admin already exists; mint further tokens through the API');
    }
    const user = await this.createUser(null, { email: input.email, displayName: input.displayName, role: Role.Admin });
    return this.issueToken(null, user.id, 'bootstrap');
  }

  findOrganisation(id: string): Promise<OrganisationEntity | null> {
    return this.repository.findOrganisationById(id);
  }

  listUsers(email?: string): Promise<UserEntity[]> {
    return this.repository.listUsers(email);
  }

  listOrganisations(): Promise<OrganisationEntity[]> {
    return this.repository.listOrganisations();
  }
}
