import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { AuthService } from '../../src/auth/auth.service';
import { AssayClient } from '../../src/cli/api-client';
import { AppConfig, loadConfig } from '../../src/config/config.schema';
import { createHttpApp } from '../../src/http-app';
import { QueueName } from '../../src/queue/queue.constants';
import { QueueService } from '../../src/queue/queue.service';
import { WorkerModule } from '../../src/worker.module';
import { createTestDatabase } from './test-database';
import { TEST_REDIS_URL } from './test-env';

/** The repository root, whether this runs from source (test/support) or compiled (dist/test/support). */
export const REPO_ROOT = existsSync(join(__dirname, '..', '..', 'package.json')) ? join(__dirname, '..', '..') : join(__dirname, '..', '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestStack {
  config: AppConfig;
  api: INestApplication;
  worker: INestApplicationContext | null;
  baseUrl: string;
  admin: AssayClient;
  /** Creates an organisation with one vendor user and returns a client holding the vendor's token. */
  vendor(org: string): Promise<{ client: AssayClient; organisationId: string; userId: string }>;
  user(role: 'evaluator' | 'regulator'): Promise<AssayClient>;
  close(): Promise<void>;
}

/**
 * A whole Assay for one test file, on the real services: a fresh database cloned from the migrated template, its own
 * Redis queue prefix, its own embedded S3 server on a free port, the HTTP API on an ephemeral port, and (optionally)
 * a worker in the same process, which runs real sandboxes on the local Docker engine.
 */
export async function startTestStack(
  options: { worker: boolean; env?: Record<string, string>; database?: { url: string; drop: () => Promise<void> }; logDestination?: DestinationStream } = { worker: true },
): Promise<TestStack> {
  const db = options.database ?? (await createTestDatabase());
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-test-'));
  const config = loadConfig({
    ASSAY_MODE: 'test',
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    ASSAY_QUEUE_PREFIX: `assaytest${randomBytes(4).toString('hex')}`,
    ASSAY_S3_EMBEDDED_PORT: String(await freePort()),
    ASSAY_DATA_DIR: dataDir,
    ASSAY_CATALOGUE_DIR: REPO_ROOT,
    // Generated phantoms are deterministic: one copy for every test stack (generating takes ~20 s).
    ASSAY_GENERATED_DIR: join(REPO_ROOT, '.assay', 'generated'),
    ASSAY_WORKER_ID: `test-${randomBytes(4).toString('hex')}`,
    ASSAY_WORKER_GPUS: 'none',
    ASSAY_LOG_LEVEL: 'warn',
    ...options.env,
  });
  // The in-process worker logs through the API's logger (Nest's Logger is one per process): one destination for both.
  const api = await createHttpApp(config, { loadCatalogue: true, ...(options.logDestination ? { logDestination: options.logDestination } : {}) });
  await api.listen(0, '127.0.0.1');
  const address = api.getHttpServer().address() as { port: number };
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const worker = options.worker ? await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: ['error', 'warn'] }) : null;
  const auth = api.get(AuthService);
  const adminToken = (await auth.bootstrapAdmin({ email: 'admin@test.local', displayName: 'Test admin', allowAdditional: true })).token;
  const admin = new AssayClient(baseUrl, adminToken);
  let n = 0;
  return {
    config,
    api,
    worker,
    baseUrl,
    admin,
    async vendor(org) {
      const organisation = await admin.post<{ id: string }>('/api/organisations', { name: org });
      const user = await admin.post<{ id: string }>('/api/users', { email: `vendor${++n}@${organisation.id}.test`, displayName: org, role: 'vendor', organisationId: organisation.id });
      const token = await admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'test' });
      return { client: admin.withToken(token.token), organisationId: organisation.id, userId: user.id };
    },
    async user(role) {
      const user = await admin.post<{ id: string }>('/api/users', { email: `${role}${++n}@test.local`, displayName: role, role });
      return admin.withToken((await admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'test' })).token);
    },
    async close() {
      const queues = api.get(QueueService);
      if (worker) await worker.close();
      for (const name of Object.values(QueueName)) await queues.queue(name).obliterate({ force: true }).catch(() => undefined);
      await api.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const RESET = Symbol('connection reset');
const isReset = (e: unknown): boolean => (e as Error | undefined)?.name === 'TypeError' && /fetch failed/.test((e as Error).message) && /ECONNRESET|socket/i.test(String((e as { cause?: unknown }).cause));

/** Polls until the predicate holds (or fails the test with what it last saw). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // The worker shares this process in tests: a long scoring step can hold the event loop past the server's
  // keep-alive timeout, and a poll on the closed socket is reset. A poll is simply tried again.
  const attempt = async (): Promise<T | typeof RESET> => read().catch((e: unknown) => (isReset(e) ? RESET : Promise.reject(e)));
  let last = await attempt();
  while (last === RESET || !done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 150));
    last = await attempt();
  }
  return last;
}
