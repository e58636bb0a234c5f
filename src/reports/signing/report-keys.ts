import { Inject, Injectable, Logger } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../../audit/audit.service';
import { Clock } from '../../common/clock';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config.schema';
import { generateReportKey, KEY_ID_PATTERN, parsePrivateKeyPem, PublicKeyInfo, REPORT_SIGNATURE_ALG } from './ed25519';
import { ReportSigningKeyEntity } from './report-keys.entity';
import { ReportKeysRepository } from './report-keys.repository';

export interface SigningKey {
  keyId: string;
  /** base64 of the raw public key. */
  publicKey: string;
  privateKey: KeyObject;
}

export const toPublicKeyInfo = (row: ReportSigningKeyEntity): PublicKeyInfo => ({
  keyId: row.keyId,
  alg: REPORT_SIGNATURE_ALG,
  publicKey: row.publicKey,
  createdAt: row.createdAt.toISOString(),
  retiredAt: row.retiredAt ? row.retiredAt.toISOString() : null,
});

/**
 * The keys that sign validation reports: private halves as PKCS8 PEM files (0600) under config.reports.keyDir (0700),
 * public halves in report_signing_keys. One door for report crypto keys (STYLE.md: crypto behind injectable classes).
 *
 * Creation order: the private file is written (to a temporary name, fsynced, renamed) BEFORE its row is inserted. A
 * crash between the two leaves an orphan file that nothing uses, never a published key without its private half.
 * Key changes run under one Postgres advisory lock, so processes starting together end with one key.
 */
@Injectable()
export class ReportKeyStore {
  private readonly logger = new Logger(ReportKeyStore.name);
  private readonly loaded = new Map<string, SigningKey>();
  private readonly keyDir: string;

  constructor(
    private readonly keys: ReportKeysRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.keyDir = resolve(config.reports.keyDir);
  }

  /** The newest unretired key whose private file this process can read; creates the first one when there is none. */
  async current(): Promise<SigningKey> {
    const found = await this.usable(await this.keys.findUnretired());
    if (found) return found;
    return this.keys.transaction(async (tx) => {
      await this.keys.lockForKeyChange(tx);
      // Another process may have created it while this one waited for the lock.
      const again = await this.usable(await this.keys.findUnretired(tx));
      if (again) return again;
      return this.create(tx, null, 'report_key.created');
    });
  }

  /** A new signing key; every earlier unretired key is retired (and stays published). Audited. */
  async rotate(actorUserId: string | null = null): Promise<{ created: PublicKeyInfo; retired: string[] }> {
    return this.keys.transaction(async (tx) => {
      await this.keys.lockForKeyChange(tx);
      const key = await this.create(tx, actorUserId, 'report_key.rotated');
      const retired = await this.keys.retireAllExcept(tx, key.keyId, this.clock.now());
      const row = (await this.keys.findUnretired(tx)).find((r) => r.keyId === key.keyId) as ReportSigningKeyEntity;
      return { created: toPublicKeyInfo(row), retired };
    });
  }

  /** Every key ever published, oldest first. */
  async publicKeys(): Promise<PublicKeyInfo[]> {
    return (await this.keys.findAll()).map(toPublicKeyInfo);
  }

  async lookup(keyId: string): Promise<PublicKeyInfo | undefined> {
    if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) return undefined;
    const row = await this.keys.findByKeyId(keyId);
    return row ? toPublicKeyInfo(row) : undefined;
  }

  private fileOf(keyId: string): string {
    return join(this.keyDir, `${keyId}.pem`);
  }

  private async usable(rows: ReportSigningKeyEntity[]): Promise<SigningKey | undefined> {
    for (const row of rows) {
      const cached = this.loaded.get(row.keyId);
      if (cached) return cached;
      const file = this.fileOf(row.keyId);
      if (!existsSync(file)) continue;
      try {
        const parsed = parsePrivateKeyPem(readFileSync(file, 'utf8'));
        if (parsed.publicKey !== row.publicKey) {
          this.logger.error(`report key ${row.keyId}: ${file} holds a different key; not used`);
          continue;
        }
        const key = { keyId: row.keyId, publicKey: row.publicKey, privateKey: parsed.privateKey };
        this.loaded.set(row.keyId, key);
        return key;
      } catch (error) {
        this.logger.error(`report key ${row.keyId}: ${file} is unreadable (${(error as Error).message}); not used`);
      }
    }
    return undefined;
  }

  private async create(tx: EntityManager, actorUserId: string | null, action: string): Promise<SigningKey> {
    const generated = generateReportKey();
    this.writePrivateFile(generated.keyId, generated.privateKeyPem);
    const row: ReportSigningKeyEntity = { keyId: generated.keyId, publicKey: generated.publicKey, createdAt: this.clock.now(), retiredAt: null };
    await this.keys.insert(tx, row);
    await this.audit.record(tx, { actorUserId, action, entityType: 'report_signing_key', entityId: generated.keyId, payload: { publicKey: generated.publicKey } });
    const key = { keyId: generated.keyId, publicKey: generated.publicKey, privateKey: parsePrivateKeyPem(generated.privateKeyPem).privateKey };
    this.loaded.set(key.keyId, key);
    return key;
  }

  private writePrivateFile(keyId: string, pem: string): void {
    mkdirSync(this.keyDir, { recursive: true, mode: 0o700 });
    chmodSync(this.keyDir, 0o700);
    const final = this.fileOf(keyId);
    const temporary = `${final}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, pem);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, final);
    // The directory entry too, so the rename survives a crash before the row commits.
    const dir = openSync(this.keyDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
