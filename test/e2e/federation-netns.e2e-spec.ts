import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, connect } from 'node:net';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildReferenceModels, type BuildReferenceModelsResult } from '../../scripts/reference-models/build';
import type { AssayClient } from '../../src/cli/api-client';
import { generateNodeKeyFile, writeNodeKeyFile } from '../../src/federation/node-keys';
import type { NodePolicy } from '../../src/federation/node-policy';
import { federatedWdbcDefinition, WDBC_HEADER, WDBC_ROWS } from '../support/hospital-nodes';
import { eventually, REPO_ROOT, startTestStack, type TestStack } from '../support/test-stack';

jest.setTimeout(900_000);

// The hub and two hospital nodes on this machine, each node a process in its own network namespace (ip netns, veth)
// with a route to the hub only: the hub's address is reachable from each node, nothing in a node is reachable from
// the hub (new inbound connections are dropped in the node's namespace), and the nodes cannot reach each other.
// Each node runs src/node.ts with its own object store and the host's Docker engine (a Unix socket; sandboxes have no
// network at all). A node cut off mid-run (its link down) makes the run wait; back up, the run completes.

const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-netns'], acceptedVendorOrganisations: ['*'], resourceLimits: {}, egress: 'score-distributions' };
const TAG = (process.pid % 10000).toString(36);

interface NsNode {
  name: string;
  ns: string;
  hostIf: string;
  hubIp: string;
  nodeIp: string;
  dir: string;
  id: string;
  proc: ChildProcess | null;
  proxy: Server;
}

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, args: string[]): string => sh('ip', ['netns', 'exec', ns, ...args]);

/** Tries a TCP connection from the current namespace (or `ns`); resolves whether it was accepted within `ms`. */
function reachable(host: string, port: number, ns?: string, ms = 1500): boolean {
  const probe = `const s=require('net').connect(${port},'${host}');s.on('connect',()=>{console.log('open');process.exit(0)});s.on('error',()=>{console.log('closed');process.exit(0)});setTimeout(()=>{console.log('timeout');process.exit(0)},${ms})`;
  const out = ns ? spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', probe], { encoding: 'utf8' }) : spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  return out.stdout.trim() === 'open';
}

describe('federation across network namespaces: outbound only from each node, nothing into a node, nothing between nodes', () => {
  let stack: TestStack;
  let nodes: NsNode[] = [];
  let vendor: AssayClient;
  let models: BuildReferenceModelsResult;
  let work: string;
  let hubPort: number;

  const startNodeProcess = (n: NsNode): void => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ASSAY_MODE: 'test',
      ASSAY_DATA_DIR: n.dir,
      ASSAY_S3_EMBEDDED_PORT: '19000',
      ASSAY_WORKER_ID: `${n.name}-${TAG}`,
      ASSAY_WORKER_GPUS: 'none',
      ASSAY_LOG_LEVEL: 'warn',
      ASSAY_HUB_URL: `http://${n.hubIp}:${hubPort}`,
      ASSAY_NODE_ID: n.id,
      ASSAY_NODE_KEY_FILE: join(n.dir, 'private', 'node-key.json'),
      ASSAY_NODE_POLICY_FILE: join(n.dir, 'policy.json'),
      ASSAY_NODE_HEARTBEAT_MS: '500',
    };
    // nsenter --net, not `ip netns exec`: the latter also gives the process a mount namespace of its own, and the
    // sandbox's output mounts made there would be invisible to the Docker engine.
    n.proc = spawn('nsenter', [`--net=/run/netns/${n.ns}`, process.execPath, '-r', join(REPO_ROOT, 'test/support/swc-register.js'), join(REPO_ROOT, 'src/node.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // The node's own log (its operator's), kept in its data dir.
    const log = createWriteStream(join(n.dir, 'node.log'));
    n.proc.stdout?.pipe(log);
    n.proc.stderr?.pipe(log);
  };

  beforeAll(async () => {
    stack = await startTestStack({ worker: true });
    hubPort = Number(new URL(stack.baseUrl).port);
    vendor = (await stack.vendor('Vendor N')).client;
    const descriptor = parseYaml(readFileSync(join(REPO_ROOT, 'cohorts/wdbc/cohort.yaml'), 'utf8')) as Record<string, unknown>;
    for (const [k, name, rows] of [
      [1, 'netns-a', WDBC_ROWS.slice(0, 285)],
      [2, 'netns-b', WDBC_ROWS.slice(285)],
    ] as const) {
      const ns = `assay-${TAG}-${k}`;
      const hostIf = `vh${TAG}${k}`;
      const hubIp = `10.231.${k}.1`;
      const nodeIp = `10.231.${k}.2`;
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', `vn${TAG}${k}`]);
      sh('ip', ['link', 'set', `vn${TAG}${k}`, 'netns', ns]);
      sh('ip', ['addr', 'add', `${hubIp}/30`, 'dev', hostIf]);
      sh('ip', ['link', 'set', hostIf, 'up']);
      inNs(ns, ['ip', 'addr', 'add', `${nodeIp}/30`, 'dev', `vn${TAG}${k}`]);
      inNs(ns, ['ip', 'link', 'set', `vn${TAG}${k}`, 'up']);
      inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
      // Nothing may open a connection into the node: only replies to its own outbound connections come in.
      inNs(ns, ['iptables', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      inNs(ns, ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      inNs(ns, ['iptables', '-A', 'INPUT', '-j', 'DROP']);
      // The hub is reached at its address on the node's link (a relay to the API's loopback port, in the hub's namespace).
      const proxy = createServer((c) => {
        const up = connect(hubPort, '127.0.0.1');
        c.pipe(up).pipe(c);
        const end = (): void => (c.destroy(), void up.destroy());
        c.on('error', end);
        up.on('error', end);
      });
      await new Promise<void>((ok) => proxy.listen(hubPort, hubIp, ok));
      const dir = mkdtempSync(join(tmpdir(), `assay-${name}-`));
      mkdirSync(join(dir, 'private'), { recursive: true, mode: 0o700 });
      const key = generateNodeKeyFile();
      writeNodeKeyFile(join(dir, 'private', 'node-key.json'), key);
      writeFileSync(join(dir, 'policy.json'), JSON.stringify(POLICY));
      const cohortDir = join(dir, 'cohort');
      mkdirSync(cohortDir);
      const own = rows.map((line, i) => `NS${k}-${String(i + 1).padStart(4, '0')}${line.slice(line.indexOf(','))}`);
      writeFileSync(join(cohortDir, 'wdbc.csv'), `${WDBC_HEADER}\n${own.join('\n')}\n`);
      writeFileSync(join(cohortDir, 'cohort.yaml'), stringifyYaml({ ...descriptor, slug: 'wdbc-site', title: `WDBC at ${name}` }));
      const id = (await stack.admin.post<{ id: string }>('/api/nodes', { name, publicKey: key.publicKeyPem, policy: POLICY })).id;
      const node: NsNode = { name, ns, hostIf, hubIp, nodeIp, dir, id, proc: null, proxy };
      nodes.push(node);
      // The hospital's ingestion, inside its namespace, into its own store.
      const ingest = spawnSync('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '-r', join(REPO_ROOT, 'test/support/swc-register.js'), join(REPO_ROOT, 'src/cli/main.ts'), 'node', 'ingest', cohortDir], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ASSAY_MODE: 'test', ASSAY_DATA_DIR: dir, ASSAY_S3_EMBEDDED_PORT: '19000', ASSAY_WORKER_ID: `${name}-${TAG}`, ASSAY_LOG_LEVEL: 'warn' },
        encoding: 'utf8',
      });
      expect([ingest.status, ingest.stderr.slice(0, 500)]).toEqual([0, '']);
      startNodeProcess(node);
    }
    await eventually(
      () => stack.admin.get<{ name: string; status: string; cohorts: { name: string }[] }[]>('/api/nodes'),
      (list) => nodes.every((n) => list.some((x) => x.name === n.name && x.status === 'online' && x.cohorts.some((c) => c.name === 'wdbc-site'))),
      120_000,
    );
    await (await stack.user('evaluator')).post('/api/benchmarks', { ...federatedWdbcDefinition('wdbc-netns', nodes), title: 'WDBC over two namespaced nodes' });
    work = mkdtempSync(join(tmpdir(), 'assay-netns-'));
    writeFileSync(join(work, 'sample.csv'), await vendor.get<string>('/api/benchmarks/wdbc-netns/sample-data'));
    models = await buildReferenceModels({ sampleCsv: join(work, 'sample.csv'), outDir: join(work, 'models') });
  });

  afterAll(async () => {
    for (const n of nodes) {
      n.proc?.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      n.proc?.kill('SIGKILL');
      n.proxy.close();
      spawnSync('ip', ['link', 'del', n.hostIf]);
      spawnSync('ip', ['netns', 'del', n.ns]);
      if (process.env.ASSAY_KEEP_NODE_DIRS) process.stdout.write(`kept ${n.dir}\n`);
      else rmSync(n.dir, { recursive: true, force: true });
    }
    await stack?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('each node reaches the hub and nothing else; the hub reaches nothing in a node', () => {
    const [a, b] = nodes as [NsNode, NsNode];
    expect(reachable(a.hubIp, hubPort, a.ns)).toBe(true);
    // A listener inside node A on all its addresses: the hub cannot open a connection to it; A's own loopback can.
    const listener = spawn('ip', ['netns', 'exec', a.ns, process.execPath, '-e', "require('net').createServer(()=>{}).listen(18080,'0.0.0.0')"], { stdio: 'ignore' });
    try {
      spawnSync('sleep', ['0.5']);
      expect(reachable('127.0.0.1', 18080, a.ns)).toBe(true);
      expect(reachable(a.nodeIp, 18080)).toBe(false);
      // Node B cannot reach node A (no route), nor the hub's address on A's link.
      expect(reachable(a.nodeIp, 18080, b.ns)).toBe(false);
      expect(reachable(a.hubIp, hubPort, b.ns)).toBe(false);
    } finally {
      listener.kill('SIGKILL');
    }
  });

  it('runs the held-out phase on both nodes; a node cut off waits, and the run completes when its link is back', async () => {
    const b = nodes[1] as NsNode;
    sh('ip', ['link', 'set', b.hostIf, 'down']);
    const submitted = await vendor.uploadMultipart<{ id: string }>('/api/submissions', { fields: { benchmark: 'wdbc-netns', manifest: JSON.stringify(models.logreg.manifest) }, fileField: 'model', filePath: models.logreg.modelPath });
    type Sub = { runs: { id: string; phase: string; status: string }[] };
    const waiting = await eventually(() => vendor.get<Sub>(`/api/submissions/${submitted.id}`), (s) => s.runs.some((r) => r.phase === 'test' && r.status === 'waiting_for_node'), 300_000);
    const runId = (waiting.runs.find((r) => r.phase === 'test') as { id: string }).id;
    const evaluator = await stack.user('evaluator');
    type RunView = { status: string; failureDetail: string | null; federation: { nodes: { node: string; status: string }[] }; metrics: Record<string, { value: number }> | null };
    const mid = await evaluator.get<RunView>(`/api/runs/${runId}`);
    expect(mid.federation.nodes.find((n) => n.node === b.name)?.status).toBe('waiting_for_node');
    sh('ip', ['link', 'set', b.hostIf, 'up']);
    const done = await eventually(() => evaluator.get<RunView>(`/api/runs/${runId}`), (r) => ['succeeded', 'failed'].includes(r.status), 300_000);
    expect({ status: done.status, failureDetail: done.failureDetail }).toEqual({ status: 'succeeded', failureDetail: null });
    expect(done.federation.nodes.map((n) => n.status)).toEqual(['done', 'done']);
    expect(done.metrics?.['auroc']?.value).toBeGreaterThan(0.9);
    // None of the nodes' case ids reached the hub's database.
    const dump = execFileSync('pg_dump', ['--data-only', stack.config.database.url], { maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
    expect(dump).not.toMatch(/NS[12]-\d{4}/);
  });
});
