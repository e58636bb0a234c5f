import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, WriteStream } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './test-stack';

/** The worker as a child process (the TypeScript sources through test/support/swc-register.js), so it can be SIGKILLed. */
export class WorkerProcess {
  private child: ChildProcess | null = null;
  private log: WriteStream;
  lives = 0;

  constructor(
    private readonly env: Record<string, string>,
    logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  /** Starts a worker; `crashAt` names the crash point (src/queue/crash-points.ts) where it kills itself. */
  start(crashAt?: string): void {
    if (this.child) throw new Error('a worker is already running');
    this.lives++;
    this.log.write(`\n=== ${new Date().toISOString()} worker life ${this.lives}${crashAt ? ` (crash at ${crashAt})` : ''} ===\n`);
    const child = spawn(process.execPath, ['-r', join(REPO_ROOT, 'test/support/swc-register.js'), join(REPO_ROOT, 'src/worker.ts')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...this.env, ...(crashAt ? { ASSAY_TEST_CRASH_AT: crashAt } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.child = child;
  }

  /** Resolves with the signal or exit code once the worker is gone; fails after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<string> {
    const child = this.child;
    if (!child) throw new Error('no worker running');
    const result = await new Promise<string>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(String(child.signalCode ?? child.exitCode));
      const timer = setTimeout(() => reject(new Error(`worker life ${this.lives} did not exit within ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code, signal) => (clearTimeout(timer), this.log.write(`=== ${new Date().toISOString()} exit ${String(signal ?? code)}\n`), resolve(String(signal ?? code))));
    });
    this.child = null;
    return result;
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    const gone = this.exited(30_000);
    this.child.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM, as a deploy or `systemctl stop` sends: resolves with how the worker ended, failing after `timeoutMs`. */
  async terminate(timeoutMs: number): Promise<string> {
    if (!this.child) throw new Error('no worker running');
    const gone = this.exited(timeoutMs);
    this.child.kill('SIGTERM');
    return gone;
  }

  async close(): Promise<void> {
    await this.kill();
    this.log.end();
  }
}
