import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { DomainError } from '../common/domain-error';
import { unpackCohortArchive } from './imaging-upload';

// The archive reader alone (the route's integration test, test/integration/imaging-cohort-upload.int-spec.ts,
// covers the HTTP side and what gets stored).

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const [name, body] of Object.entries(files)) p.entry({ name }, body);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const request = (body: Buffer, type: string): IncomingMessage => Object.assign(Readable.from([body]), { headers: { 'content-type': type } }) as unknown as IncomingMessage;

describe('unpackCohortArchive', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'assay-unpack-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads cohort.yaml and confines the source to the unpacked folder', async () => {
    const body = gzipSync(await tarOf({ 'cohort.yaml': 'slug: x\n', 'cases.csv': 'case_id\n' }));
    const cohort = await unpackCohortArchive(request(body, 'application/gzip'), join(dir, 's'), 1 << 20);
    expect(cohort.descriptor).toEqual({ slug: 'x' });
    expect((await cohort.source.read('cases.csv')).toString()).toBe('case_id\n');
    await expect(cohort.source.read('../../etc/passwd')).rejects.toThrow(/outside the cohort folder/);
    expect(cohort).toMatchObject({ files: 2 });
  });

  it.each([
    ['gzip that is not gzip', async () => request(await tarOf({ 'cohort.yaml': 'a: 1\n' }), 'application/gzip'), /not readable gzip/],
    ['gzip cut short', async () => request(gzipSync(await tarOf({ 'cohort.yaml': 'a: 1\n' })).subarray(0, 40), 'application/gzip'), /not readable gzip|not a readable tar/],
    ['YAML that is not YAML', async () => request(await tarOf({ 'cohort.yaml': 'a: [1,\n' }), 'application/x-tar'), /not valid YAML/],
    ['over the budget as sent', async () => request(await tarOf({ 'cohort.yaml': 'x'.repeat(4096) }), 'application/x-tar'), /limit/],
  ])('%s is a DomainError naming the problem', async (_what, make, message) => {
    const err = await unpackCohortArchive(await make(), join(dir, 's'), 4096).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as Error).message).toMatch(message);
  });
});
