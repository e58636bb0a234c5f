import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './test-stack';

const exec = promisify(execFile);

/**
 * Private instances of the services the chaos suite restarts, on free loopback ports in temp directories. The
 * machine's own PostgreSQL, Redis and Docker engine are shared with other tests and are never restarted.
 */
export interface Restartable {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** redis-server without persistence: a restart loses every job, as a Redis that lost its data would. */
export async function startPrivateRedis(): Promise<Restartable> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'assay-chaos-redis-'));
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitForPort(port);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill('SIGKILL');
    await waitForExit(c);
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, start, stop, close: async () => (await stop(), rmSync(dir, { recursive: true, force: true })) };
}

/** A PostgreSQL cluster of our own (initdb as the postgres user; trust on loopback). */
export async function startPrivatePostgres(): Promise<Restartable> {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  const bin = join('/usr/lib/postgresql', versions[versions.length - 1] as string, 'bin');
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), 'assay-chaos-pg-'));
  const data = join(root, 'data');
  mkdirSync(data);
  chownSync(root, 101, 104);
  chownSync(data, 101, 104);
  const asPostgres = (cmd: string, args: string[]): Promise<unknown> =>
    process.getuid?.() === 0 ? exec('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : exec(join(bin, cmd), args);
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async (): Promise<void> => {
    await asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(root, 'log'), '-w', 'start']);
    await waitForPort(port);
  };
  const stop = async (): Promise<void> => {
    await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  };
  await start();
  return { url: `postgres://postgres@127.0.0.1:${port}`, start, stop, close: async () => (await stop(), rmSync(root, { recursive: true, force: true })) };
}

/** An S3-compatible server (s3rver) in this process, with its data kept across restarts. */
export async function startPrivateObjectStore(): Promise<Restartable> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'assay-chaos-s3-'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3Server;
  interface S3Server {
    run(): Promise<unknown>;
    close(cb: (err?: Error) => void): void;
    httpServer?: { closeAllConnections?: () => void };
  }
  let server: S3Server | null = null;
  const start = async (): Promise<void> => {
    const s = new S3rver({ address: '127.0.0.1', port, silent: true, directory, allowMismatchedSignatures: false });
    await s.run();
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    // Like a process that goes away: open keep-alive connections are cut, not drained.
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.httpServer?.closeAllConnections?.();
    await closed;
  };
  await start();
  return { url: `http://127.0.0.1:${port}`, start, stop, close: async () => (await stop(), rmSync(directory, { recursive: true, force: true })) };
}
