import { Command } from 'commander';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssayClient, RunSummary } from './api-client';
import { followSubmission, formatLeaderboard, registerVendorCommands } from './vendor.command';

type View = { status: string; rejectionReason: string | null; runs: { id: string; phase: string; status: string }[] };

/** The API as the CLI sees it, at the adapter boundary: a scripted sequence of submission views. */
class ScriptedClient extends AssayClient {
  constructor(private readonly views: View[], private readonly runEnd: RunSummary | null = null) {
    super('http://127.0.0.1:1');
  }
  override async get<T>(): Promise<T> {
    const next = this.views.length > 1 ? this.views.shift() : this.views[0];
    return next as T;
  }
  override async followRun(_id: string, onEvent: (s: RunSummary) => void): Promise<RunSummary> {
    if (!this.runEnd) throw new Error('no run expected');
    onEvent(this.runEnd);
    return this.runEnd;
  }
}

describe('followSubmission (submit / submit-image / watch)', () => {
  it('follows a submission from validating to its rejection and shows the reason', async () => {
    const lines: string[] = [];
    const client = new ScriptedClient([
      { status: 'validating', rejectionReason: null, runs: [] },
      { status: 'validating', rejectionReason: null, runs: [] },
      { status: 'rejected', rejectionReason: "model: does not fit wdbc-malignancy: input 'input': last dimension 31, expected 30", runs: [] },
    ]);
    await expect(followSubmission(client, 's1', (l) => lines.push(l))).resolves.toBe('rejected');
    expect(lines).toEqual(['validating: the worker checks the model before any run', "rejected: model: does not fit wdbc-malignancy: input 'input': last dimension 31, expected 30"]);
  });

  it('follows an accepted submission to the end of its run', async () => {
    const lines: string[] = [];
    const end: RunSummary = { id: 'r1', phase: 'sample', status: 'failed', failureReason: 'invalid_output', failureDetail: 'line 1', casesTotal: 20, casesDone: 20, progress: 1, durationMs: 5 };
    const client = new ScriptedClient(
      [
        { status: 'validating', rejectionReason: null, runs: [] },
        { status: 'accepted', rejectionReason: null, runs: [{ id: 'r1', phase: 'sample', status: 'running' }] },
      ],
      end,
    );
    await expect(followSubmission(client, 's1', (l) => lines.push(l))).resolves.toBe('accepted');
    expect(lines).toEqual(['validating: the worker checks the model before any run', 'accepted', '  sample: failed (invalid_output: line 1) in 5 ms']);
  });
});

describe('submit / submit-image --intended-use', () => {
  let dir: string;
  let server: Server;
  let api: string;
  const bodies: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'assay-cli-'));
    writeFileSync(join(dir, 'model.onnx'), 'model bytes');
    writeFileSync(join(dir, 'image.tar'), 'tar bytes');
    writeFileSync(join(dir, 'manifest.json'), '{"name":"m","version":"1","inputs":{},"outputs":{}}');
    writeFileSync(join(dir, 'use.json'), '{\n  "purpose": "second opinion",\n  "operatingMode": "second-reader"\n}\n');
    writeFileSync(join(dir, 'list.json'), '["purpose"]');
    // The API at the adapter boundary: a local HTTP server that keeps each request body and answers 202.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"s1","status":"validating"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => void bodies.splice(0));

  const cli = async (args: string[]): Promise<void> => {
    const program = new Command().exitOverride();
    registerVendorCommands(program);
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(['node', 'assay', ...args, '--api', api, '--token', 't', '--no-follow']);
    } finally {
      write.mockRestore();
    }
  };
  const intendedUsePart = (body: string): string | null => /name="intendedUse"\r\n\r\n(.*?)\r\n/s.exec(body)?.[1] ?? null;

  it('sends the file as the multipart field intendedUse, before the file part, on both upload commands', async () => {
    await cli(['submit', '--benchmark', 'wdbc-malignancy', '--model', join(dir, 'model.onnx'), '--manifest', join(dir, 'manifest.json'), '--intended-use', join(dir, 'use.json')]);
    await cli(['submit-image', '--benchmark', 'wdbc-malignancy', '--image', join(dir, 'image.tar'), '--name', 'img', '--version', '1', '--intended-use', join(dir, 'use.json')]);
    expect(bodies).toHaveLength(2);
    for (const body of bodies) {
      expect(JSON.parse(intendedUsePart(body) ?? 'null')).toEqual({ purpose: 'second opinion', operatingMode: 'second-reader' });
      expect(body.indexOf('name="intendedUse"')).toBeLessThan(body.indexOf('filename='));
    }
  });

  it('sends no intendedUse field without the option', async () => {
    await cli(['submit', '--benchmark', 'wdbc-malignancy', '--model', join(dir, 'model.onnx'), '--manifest', join(dir, 'manifest.json')]);
    expect(bodies).toHaveLength(1);
    expect(intendedUsePart(bodies[0] ?? '')).toBeNull();
  });

  it('refuses a file that is not a JSON object before uploading anything', async () => {
    await expect(cli(['submit', '--benchmark', 'b', '--model', join(dir, 'model.onnx'), '--manifest', join(dir, 'manifest.json'), '--intended-use', join(dir, 'list.json')])).rejects.toThrow(/--intended-use .*list\.json: must hold a JSON object/);
    await expect(cli(['submit', '--benchmark', 'b', '--model', join(dir, 'model.onnx'), '--manifest', join(dir, 'manifest.json'), '--intended-use', join(dir, 'model.onnx')])).rejects.toThrow(/not valid JSON/);
    expect(bodies).toEqual([]);
  });
});

describe('formatLeaderboard', () => {
  it("prints a federated entry's pooled row, then one row per site beneath it (suppressed sites say so)", () => {
    const text = formatLeaderboard({
      benchmark: 'wdbc-federated',
      phase: 'test',
      primaryMetric: 'auroc',
      ranking: 'aggregate-then-rank',
      rows: [
        {
          rank: 1,
          organisation: 'Acme',
          submission: 'logreg',
          metrics: { auroc: { value: 0.9904, ci: [0.98, 0.997] } },
          sites: [
            { site: 'hospital-a', n: 280, suppressed: false, metrics: { auroc: { value: 0.9931, ci: [0.985, 0.999] } } },
            { site: 'hospital-b', n: null, suppressed: true, metrics: { auroc: { value: null, ci: null } } },
          ],
        },
      ],
    });
    const lines = text.split('\n');
    expect(lines[3]).toMatch(/^1 .*Acme .*logreg .*0\.990 \[0\.980, 0\.997\]/);
    expect(lines[4]).toMatch(/site hospital-a .*n = 280 .*0\.993 \[0\.985, 0\.999\]/);
    expect(lines[5]).toMatch(/site hospital-b .*suppressed/);
  });
});
