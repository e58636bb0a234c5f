import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { LOG_ESCAPING } from '../../src/sandbox/capped-log';
import { Client } from 'pg';
import type { QueryRunner } from 'typeorm';
import { RunLogsBytes1764400000000 } from '../../migrations/1764400000000-run-logs-bytes';
import { createTestDatabase } from '../support/test-database';
import { eventually, startTestStack, TestStack } from '../support/test-stack';

// A vendor container whose log holds NUL, invalid UTF-8 and an encoded lone surrogate, through the whole worker
// (intake, pre-flight, run, Postgres) and the logs endpoint. Before logs were bytes, Postgres refused the log (text
// column), the run was retried three times and ended `internal`; it must end with the vendor's own outcome.

jest.setTimeout(240_000);

interface Submission {
  id: string;
  runs: { id: string; phase: string; status: string; failureReason: string | null; failureDetail: string | null }[];
}

const LOG_BYTES_IMAGE = 'assay-attack/log-bytes:1';

describe('run logs are bytes: stored as written, shown escaped or raw', () => {
  let stack: TestStack;
  let vendor: AssayClient;
  let token: string;
  let work: string;

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    const organisation = await stack.admin.post<{ id: string }>('/api/organisations', { name: 'Bytes Vendor' });
    const user = await stack.admin.post<{ id: string }>('/api/users', { email: `bytes@${organisation.id}.test`, displayName: 'Bytes', role: 'vendor', organisationId: organisation.id });
    token = (await stack.admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'test' })).token;
    vendor = stack.admin.withToken(token);
    work = mkdtempSync(join(tmpdir(), 'assay-logs-'));
  });

  afterAll(async () => {
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ends a run whose log holds NUL and invalid UTF-8 with the vendor outcome (exit_nonzero), once, and serves its log', async () => {
    const file = join(work, 'log-bytes.tar');
    execFileSync('docker', ['save', '-o', file, LOG_BYTES_IMAGE]);
    const submitted = await vendor.uploadMultipart<Submission>('/api/submissions/container', { fields: { benchmark: 'wdbc-malignancy', name: 'log-bytes', version: '1.0.0' }, fileField: 'image', filePath: file });
    const done = await eventually(
      () => vendor.get<Submission>(`/api/submissions/${submitted.id}`),
      (s) => s.runs.some((r) => r.phase === 'sample' && ['succeeded', 'failed'].includes(r.status)),
      180_000,
    );
    const run = done.runs.find((r) => r.phase === 'sample');
    expect(run).toMatchObject({ status: 'failed', failureReason: 'exit_nonzero', failureDetail: 'batch 1: exit code 3; last log line: last line with a NUL\\u{0} byte' });
    if (!run) return;
    const detail = await vendor.get<{ attempts: number }>(`/api/runs/${run.id}`);
    expect(detail.attempts).toBe(1);

    // Default: JSON with the escaped form, which names its escaping and the stored size.
    const logs = await vendor.get<{ runId: string; sizeBytes: number; escaping: string; text: string }>(`/api/runs/${run.id}/logs`);
    expect(logs).toMatchObject({ runId: run.id, escaping: LOG_ESCAPING });
    expect(logs.text).toContain('nul:\\u{0}:ff:\\xff\\xfe:surrogate:\\xed\\xa0\\x80:esc:\\u{1b}[2J:bidi:\\u{202e}:end\n');
    expect(logs.text).toContain('stderr:\\u{0}\\xc0\\x80\n');
    expect(logs.text).toContain('last line with a NUL\\u{0} byte');

    // Raw: the bytes as the container wrote them, as a download no browser renders.
    const res = await fetch(`${stack.baseUrl}/api/runs/${run.id}/logs?format=raw`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="run-${run.id}.log"`);
    const raw = Buffer.from(await res.arrayBuffer());
    expect(raw.length).toBe(logs.sizeBytes);
    expect(raw.includes(Buffer.from('nul:\x00:ff:', 'latin1'))).toBe(true);
    expect(raw.includes(Buffer.from([0x3a, 0xff, 0xfe, 0x3a]))).toBe(true);
    expect(raw.includes(Buffer.from([0xed, 0xa0, 0x80]))).toBe(true);
    expect(raw.includes(Buffer.from([0x00, 0xc0, 0x80, 0x0a]))).toBe(true);
    expect(raw.includes(Buffer.from('last line with a NUL\x00 byte\n', 'latin1'))).toBe(true);
  });

  it('answers 400 naming the field for an unknown format', async () => {
    const err = await vendor.get('/api/runs/00000000-0000-4000-8000-000000000000/logs?format=xml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect(JSON.stringify((err as ApiError).body)).toMatch(/format/);
  });

  it('migrates stored text logs to the same bytes (their UTF-8), and back', async () => {
    const db = await createTestDatabase();
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      // A runs table of the old shape in its own schema: the migration's unqualified SQL lands there.
      await client.query('CREATE SCHEMA old_shape; SET search_path TO old_shape; CREATE TABLE runs (id int, logs text)');
      await client.query("INSERT INTO runs VALUES (1, $1), (2, NULL)", ['héllo ✓\nline 2\\x00']);
      const q = { query: (sql: string) => client.query(sql) } as unknown as QueryRunner;
      await new RunLogsBytes1764400000000().up(q);
      const up = await client.query<{ id: number; logs: Buffer | null }>('SELECT id, logs FROM runs ORDER BY id');
      expect(up.rows[0]?.logs?.equals(Buffer.from('héllo ✓\nline 2\\x00', 'utf8'))).toBe(true);
      expect(up.rows[1]?.logs).toBeNull();
      // Down: bytes that text cannot hold come back escaped rather than failing the migration.
      await client.query("UPDATE runs SET logs = '\\x00ff41'::bytea WHERE id = 2");
      await new RunLogsBytes1764400000000().down(q);
      const down = await client.query<{ id: number; logs: string | null }>('SELECT id, logs FROM runs ORDER BY id');
      expect(down.rows[0]?.logs).toBe('héllo ✓\nline 2\\x00');
      expect(down.rows[1]?.logs).toBe('\\000\\377A');
    } finally {
      await client.end();
      await db.drop();
    }
  });
});
