import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { AuthService } from '../../src/auth/auth.service';
import { Database } from '../../src/database/database.module';
import type { BucketName } from '../../src/storage/storage.keys';
import { StorageService } from '../../src/storage/storage.service';
import type { TestStack } from '../support/test-stack';

/** What came back from one raw request; status 0 = no HTTP answer (connection reset or timeout). */
export interface ProbeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: { code?: string; message?: string; problems?: { field: string; problem: string }[] } | null;
  error?: string;
}

/**
 * One raw HTTP request: any method, an already-encoded path, any bytes as body (supertest and fetch refuse bodies on
 * GET and re-encode paths; a fuzzer must not be filtered by its client).
 */
export function probe(
  baseUrl: string,
  input: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs?: number },
): Promise<ProbeResponse> {
  const url = new URL(baseUrl);
  const body = input.body === undefined ? undefined : Buffer.isBuffer(input.body) ? input.body : Buffer.from(input.body, 'utf8');
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: input.method,
        path: input.path,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...input.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '', json: null, error: e.message }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: ProbeResponse['json'] = null;
          if ((res.headers['content-type'] ?? '').includes('json')) {
            try {
              json = JSON.parse(text) as ProbeResponse['json'];
            } catch {
              json = null;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.setTimeout(input.timeoutMs ?? 20_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, headers: {}, text: '', json: null, error: e.message }));
    if (body) req.end(body);
    else req.end();
  });
}

export const fieldsOf = (r: ProbeResponse): string[] => (r.json?.problems ?? []).map((p) => p.field);

/** Bearer tokens for every role (and a vendor organisation), minted straight through the service. */
export async function tokensForEveryRole(stack: TestStack): Promise<{ admin: string; evaluator: string; regulator: string; vendor: string; vendorOrganisationId: string }> {
  const auth = stack.api.get(AuthService);
  const tag = randomBytes(4).toString('hex');
  const admin = (await auth.bootstrapAdmin({ email: `fuzz-admin-${tag}@test.local`, displayName: 'Fuzz admin', allowAdditional: true })).token;
  const call = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const r = await probe(stack.baseUrl, { method, path, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.json as T;
  };
  const org = await call<{ id: string }>('POST', '/api/organisations', { name: `Fuzz Vendor ${tag}` });
  const mint = async (role: string, organisationId?: string): Promise<string> => {
    const user = await call<{ id: string }>('POST', '/api/users', { email: `fuzz-${role}-${tag}@test.local`, displayName: role, role, ...(organisationId ? { organisationId } : {}) });
    return (await call<{ token: string }>('POST', `/api/users/${user.id}/tokens`, { label: 'fuzz' })).token;
  };
  return { admin, evaluator: await mint('evaluator'), regulator: await mint('regulator'), vendor: await mint('vendor', org.id), vendorOrganisationId: org.id };
}

/**
 * Rows per table (all tables of the schema but those named) and objects per bucket: what a rejected request must leave
 * as it was. The audit log is left out on purpose (denials may be audited); its chain is verified instead.
 */
export async function snapshotStore(
  stack: TestStack,
  opts: { exceptTables?: readonly string[]; objects?: boolean; previous?: Record<string, number> } = {},
): Promise<Record<string, number>> {
  const exceptTables = opts.exceptTables ?? ['audit_log', 'migrations'];
  const db = stack.api.get(Database);
  const tables = (await db.dataSource.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)) as { tablename: string }[];
  const counted = tables.map((t) => t.tablename).filter((t) => !exceptTables.includes(t));
  const out: Record<string, number> = {};
  if (counted.length > 0) {
    const rows = (await db.dataSource.query(counted.map((t) => `SELECT '${t}' AS t, count(*)::int AS n FROM "${t}"`).join(' UNION ALL '))) as { t: string; n: number }[];
    for (const r of rows) out[`table:${r.t}`] = r.n;
  }
  if (opts.objects === false) {
    // Not listed this time: carried over from the previous snapshot.
    for (const [k, v] of Object.entries(opts.previous ?? {})) if (k.startsWith('bucket:')) out[k] = v;
    return out;
  }
  const storage = stack.api.get(StorageService);
  const client = await storage.connect();
  for (const bucket of ['inputs', 'truth', 'submissions'] as BucketName[]) {
    let n = 0;
    for await (const _ of client.listObjectsV2(storage.bucketName(bucket), '', true)) n++;
    out[`bucket:${bucket}`] = n;
  }
  return out;
}
