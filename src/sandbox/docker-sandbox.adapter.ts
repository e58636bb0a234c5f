import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  outputBytesUsed,
  outputCapReached,
  prepareOutputDir,
  releaseOutputDir,
  type OutputCapMode,
  type ReleasedOutput,
} from './output-dir';
import { CappedLog } from './capped-log';
import {
  assertRuntimeAllowed,
  buildContainerCreateOptions,
  effectiveRuntime,
  LABEL_RUN,
  LABEL_SANDBOX,
  LABEL_WORKER,
  type SandboxPolicy,
} from './sandbox-profile';
import { SandboxAbortedError, type SandboxEngineInfo, type SandboxImageInfo, type SandboxResult, type SandboxRunSpec } from './sandbox.types';
import { createWorkDir, removeWorkDir, sweepWorkRoot } from './work-dirs';
import { AssayMetrics } from '../observability/metrics';
import { WorkerDrainingError } from '../queue/worker-draining';

export const DOCKER_SANDBOX_CONFIG = Symbol('DOCKER_SANDBOX_CONFIG');

export interface DockerSandboxConfig {
  /** Docker engine socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** Stable id of this worker (e.g. hostname + slot): labels its containers so a restarted worker reaps them. */
  workerId: string;
  /** 'auto' = tmpfs when running as root (kernel-enforced cap), else poll. */
  outputCapMode: OutputCapMode | 'auto';
  /** How often the poll mode measures /output; also bounds how far a writer can overshoot. Default 250. */
  outputPollIntervalMs?: number;
  /** Whether runc may run at all (checked on every run, GPU runs included). Default: development (runc allowed). */
  policy?: SandboxPolicy;
  /**
   * This worker's own directory for run work dirs (<dataDir>/work/<workerId>): nothing else writes there, so the
   * start-up sweep may remove all of it. Default: <os tmpdir>/assay-work/<workerId>.
   */
  workRoot?: string;
}

const KILL_GRACE_MS = 10_000;
const EXIT_CODE_SIGKILL = 137;

/** The one door to Docker: runs a container under the sandbox profile and always removes it. */
@Injectable()
export class DockerSandboxAdapter {
  private readonly logger = new Logger(DockerSandboxAdapter.name);
  private readonly docker: Docker;
  private readonly active = new Set<string>();
  /** Set once by drain(): every run in flight is killed, and no new one starts. */
  private drainedSince: Date | null = null;
  private readonly drainController = new AbortController();

  constructor(
    @Inject(DOCKER_SANDBOX_CONFIG) private readonly config: DockerSandboxConfig,
    @Optional() private readonly metrics?: AssayMetrics,
  ) {
    this.docker = new Docker({ socketPath: config.socketPath });
  }

  /**
   * The worker is shutting down: each container this adapter runs is SIGKILLed and its run() throws
   * WorkerDrainingError (after removing the container), and any later run() throws it before creating anything. A
   * run the worker stops is nobody's fault: its step hands the work back uncounted. Idempotent.
   */
  drain(): void {
    if (this.drainedSince) return;
    this.drainedSince = new Date();
    if (this.active.size > 0) this.logger.warn(`draining: stopping ${this.active.size} sandbox container(s)`);
    this.drainController.abort();
  }

  get isDraining(): boolean {
    return this.drainedSince !== null;
  }

  get outputCapMode(): OutputCapMode {
    if (this.config.outputCapMode !== 'auto') return this.config.outputCapMode;
    return process.getuid?.() === 0 ? 'tmpfs' : 'poll';
  }

  async ping(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  async info(): Promise<SandboxEngineInfo> {
    const i = (await this.docker.info()) as {
      ServerVersion?: string;
      Runtimes?: Record<string, unknown>;
      DefaultRuntime?: string;
      CgroupVersion?: string;
      NCPU?: number;
      MemTotal?: number;
    };
    const runtimes = Object.keys(i.Runtimes ?? {}).sort();
    return {
      serverVersion: i.ServerVersion ?? 'unknown',
      runtimes,
      defaultRuntime: i.DefaultRuntime ?? 'runc',
      hasRunsc: runtimes.includes('runsc'),
      cgroupVersion: i.CgroupVersion ?? 'unknown',
      cpus: i.NCPU ?? 0,
      memoryBytes: i.MemTotal ?? 0,
    };
  }

  async inspectImage(ref: string): Promise<SandboxImageInfo | null> {
    try {
      const i = await this.docker.getImage(ref).inspect();
      return {
        id: i.Id,
        repoTags: i.RepoTags ?? [],
        repoDigests: i.RepoDigests ?? [],
        labels: i.Config?.Labels ?? {},
        sizeBytes: i.Size,
        created: i.Created,
        user: i.Config?.User ?? '',
        workingDir: i.Config?.WorkingDir ?? '',
      };
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.inspectImage(ref)) !== null;
  }

  /**
   * True when the engine already holds this image ID (a sha256 config digest from the intake): the same upload
   * twice is recognised and loaded once. Only an ID counts, never a tag a vendor could have chosen.
   */
  async isImageLoaded(imageId: string): Promise<boolean> {
    if (!/^sha256:[0-9a-f]{64}$/.test(imageId)) throw new Error(`not an image ID: ${imageId}`);
    const found = await this.inspectImage(imageId);
    return found !== null && found.id === imageId;
  }

  /**
   * `docker load` of a tarball the intake accepted (inspectImageTarball). Returns the image ID that pins every
   * run of it, and any tags the archive applied. Throws when the engine reports an error or names no image.
   */
  async loadImage(tarball: string | NodeJS.ReadableStream): Promise<{ imageId: string; tags: string[] }> {
    // A stream is the intake's canonical archive (src/containers/image-loader.ts): tags stripped, only inspected blobs.
    const response = (await this.docker.loadImage(typeof tarball === 'string' ? createReadStream(tarball) : tarball, { quiet: true })) as NodeJS.ReadableStream;
    const text = await readCappedStream(response, 1 << 20);
    const ids: string[] = [];
    const tags: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let msg: { stream?: string; error?: string; errorDetail?: { message?: string } };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        continue;
      }
      if (msg.error || msg.errorDetail) throw new Error(`docker load failed: ${msg.error ?? msg.errorDetail?.message ?? 'unknown error'}`);
      const s = msg.stream ?? '';
      const id = /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(s);
      const tag = /Loaded image: (\S+)/.exec(s);
      if (id?.[1]) ids.push(id[1]);
      else if (tag?.[1]) tags.push(tag[1]);
    }
    let imageId = ids[0];
    if (!imageId && tags[0]) imageId = (await this.inspectImage(tags[0]))?.id;
    if (!imageId) throw new Error(`docker load named no image: ${text.slice(0, 500)}`);
    if (new Set(ids).size > 1) throw new Error(`docker load loaded more than one image: ${ids.join(', ')}`);
    return { imageId, tags };
  }

  /** Removes an image by ID (and its tags). Absent already is fine. */
  async removeImage(imageId: string): Promise<void> {
    try {
      await this.docker.getImage(imageId).remove({ force: true });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /**
   * Runs one container to completion. Never throws for what the container does (exit code, timeout, OOM, output
   * or log caps are in the result); throws only when Docker itself fails, after removing what it created.
   * The caller owns spec.outputDir: call releaseOutputDir() afterwards, in a finally, also when this throws.
   */
  async run(spec: SandboxRunSpec): Promise<SandboxResult> {
    const t0 = Date.now();
    if (this.drainedSince) throw new WorkerDrainingError(`the worker is shutting down (since ${this.drainedSince.toISOString()}); no new sandbox starts`);
    if (spec.signal?.aborted) throw new SandboxAbortedError('the work was abandoned before its sandbox started');
    // Before anything is created: a GPU run gets runc, and runc is what production refuses.
    assertRuntimeAllowed(effectiveRuntime(spec), this.policy, spec.gpus ? 'a GPU run' : 'a sandbox run');
    const runLabel = spec.labels?.[LABEL_RUN] ?? randomUUID();
    const options = buildContainerCreateOptions(spec, { runLabel, workerId: this.config.workerId });
    const output = await prepareOutputDir(spec.outputDir, spec.limits.outputBytes, this.outputCapMode, spec.user);
    const timings = { createMs: 0, startMs: 0, waitMs: 0, removeMs: 0, totalMs: 0 };
    let container: Docker.Container | undefined;
    let timedOut = false;
    let pollExceeded = false;
    let drained = false;
    let exitCode: number | null = null;
    let oomKilled = false;
    const logs = new CappedLog(spec.limits.logBytes);
    let timer: NodeJS.Timeout | undefined;
    let poller: NodeJS.Timeout | undefined;
    // A listener per run, removed in the finally (a promise shared by every run would hold one reaction per run).
    const drainSignal = this.drainController.signal;
    let onDrain: () => void = () => undefined;
    let onAbort: () => void = () => undefined;
    const stopping = new Promise<'drain' | 'abort'>((resolve) => {
      onDrain = () => resolve('drain');
      onAbort = () => resolve('abort');
      if (drainSignal.aborted) onDrain();
      else drainSignal.addEventListener('abort', onDrain, { once: true });
      if (spec.signal?.aborted) onAbort();
      else spec.signal?.addEventListener('abort', onAbort, { once: true });
    });
    let aborted = false;
    let started = false;
    try {
      container = await this.docker.createContainer(options);
      this.active.add(container.id);
      // Attach before start so no output is lost; the log driver is 'none', this stream is the only copy.
      // dockerode types it loosely; at run time it is the HTTP socket, a Readable.
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true, logs: false })) as unknown as Readable;
      const streamed = demux(stream, logs);
      const t1 = Date.now();
      timings.createMs = t1 - t0;
      await container.start();
      started = true;
      this.metrics?.countSandboxStart({ runtime: effectiveRuntime(spec), outcome: 'started' });
      const t2 = Date.now();
      timings.startMs = t2 - t1;

      const c = container;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, spec.limits.timeoutMs);
        if (output.mode === 'poll') {
          poller = setInterval(() => {
            outputBytesUsed(output)
              .then((used) => {
                if (used > output.capBytes) {
                  pollExceeded = true;
                  resolve();
                }
              })
              .catch(() => undefined);
          }, this.config.outputPollIntervalMs ?? 250);
        }
      });
      const waited = c.wait() as Promise<{ StatusCode?: number }>;
      // drain() may have come while the container was being created: `stopping` has settled, and it is killed at once.
      const first = await Promise.race([waited.then(() => 'exited' as const), killed.then(() => 'kill' as const), stopping]);
      clearTimeout(timer);
      clearInterval(poller);
      if (first === 'drain') drained = true;
      if (first === 'abort') aborted = true;
      if (first !== 'exited') {
        await c.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        await withTimeout(waited, KILL_GRACE_MS).catch(() => undefined);
      }
      timings.waitMs = Date.now() - t2;
      // The stream ends when the container exits; do not let a stuck stream hold the run.
      await withTimeout(streamed, 2_000).catch(() => stream.destroy());
      if (drained) throw new WorkerDrainingError(`the worker is shutting down: the sandbox container was stopped after ${Date.now() - t2} ms`);
      if (aborted) throw new SandboxAbortedError(`the work was abandoned: the sandbox container was stopped after ${Date.now() - t2} ms`);

      const state = (await c.inspect()).State;
      exitCode = typeof state.ExitCode === 'number' ? state.ExitCode : null;
      oomKilled = state.OOMKilled === true;
      if (!oomKilled && effectiveRuntime(spec) === 'runsc' && exitCode === EXIT_CODE_SIGKILL && !timedOut && !pollExceeded) {
        // Measured here (Debian gVisor 20221219, Docker 20.10): under load, about 1 in 5 runsc containers killed for
        // memory exit 137 with State.OOMKilled false (never under runc). Nobody here sent the SIGKILL, so take it
        // for the OOM killer; the cost is that a sandboxed process SIGKILLing itself under runsc reads as OOM too.
        oomKilled = true;
      }
    } finally {
      // Docker refused to create, attach or start it (an engine fault, never the vendor's).
      if (!started) this.metrics?.countSandboxStart({ runtime: effectiveRuntime(spec), outcome: 'failed' });
      drainSignal.removeEventListener('abort', onDrain);
      spec.signal?.removeEventListener('abort', onAbort);
      // Also on a Docker error mid-run: a live interval would keep polling a dir that no longer matters.
      clearTimeout(timer);
      clearInterval(poller);
      const t3 = Date.now();
      if (container) {
        await container.remove({ force: true, v: true }).catch((err: unknown) => {
          if (statusCode(err) !== 404) this.logger.warn(`could not remove container ${container?.id}: ${String(err)}`);
        });
        this.active.delete(container.id);
      }
      timings.removeMs = Date.now() - t3;
    }
    // Whatever the exit code: a program that ignores ENOSPC and exits 0 still left truncated output.
    const outputExceeded = pollExceeded || (await outputCapReached(output).catch(() => false));
    timings.totalMs = Date.now() - t0;
    return {
      exitCode,
      timedOut,
      oomKilled,
      outputExceeded,
      logBytes: logs.bytes(),
      logs: logs.text(),
      logsTruncated: logs.truncated,
      outputRefused: null,
      timings,
      runtime: effectiveRuntime(spec),
    };
  }

  get policy(): SandboxPolicy {
    return this.config.policy ?? { mode: 'development', allowWeakProfile: false };
  }

  get workRoot(): string {
    return this.config.workRoot ?? join(tmpdir(), 'assay-work', safeName(this.config.workerId));
  }

  /**
   * Copies the output out of its tmpfs into a plain directory at the same path, at most capBytes of it, and
   * unmounts the tmpfs on every path (see output-dir.ts). What it refused is in the answer.
   */
  async releaseOutputDir(dir: string, capBytes: number): Promise<ReleasedOutput> {
    return releaseOutputDir(dir, capBytes);
  }

  /** A fresh work dir for one attempt of one step (name e.g. `run-<id>-<attempt>`): never the path of a retry. */
  async createWorkDir(name: string): Promise<string> {
    return createWorkDir(this.workRoot, name);
  }

  /**
   * Removes a work dir with every mount under it, whatever the depth. Never throws: a failure is logged (what is
   * left is the start-up sweep's) and reported as false.
   */
  async removeWorkDir(dir: string): Promise<boolean> {
    try {
      const { unmounted } = await removeWorkDir(this.workRoot, dir);
      if (unmounted.length > 0) this.logger.warn(`removed work dir ${dir} with ${unmounted.length} mount(s) still under it`);
      return true;
    } catch (err) {
      this.logger.error(`could not remove work dir ${dir}: ${String(err)}`);
      return false;
    }
  }

  /** This worker's work dirs (names under its own root), for the recovery sweep to judge against the database. */
  async listWorkDirs(): Promise<string[]> {
    return fs.readdir(this.workRoot).catch(() => [] as string[]);
  }

  /** Removes this worker's work dirs whose names start with `prefix` (what earlier, killed attempts of a step left). */
  async removeWorkDirsNamed(prefix: string): Promise<number> {
    let removed = 0;
    for (const name of await this.listWorkDirs()) if (name.startsWith(prefix) && (await this.removeWorkDir(join(this.workRoot, name)))) removed++;
    return removed;
  }

  /**
   * Start-up sweep, before taking jobs: removes the containers, mounts and work dirs a dead incarnation of this
   * worker left, and says so in the log.
   */
  async sweep(): Promise<{ containers: string[]; unmounted: string[]; removed: string[] }> {
    const containers = await this.reapOrphans();
    const { unmounted, removed } = await sweepWorkRoot(this.workRoot);
    if (unmounted.length > 0 || removed.length > 0) {
      this.logger.warn(`start-up sweep of ${this.workRoot}: unmounted ${unmounted.length} mount(s), removed ${removed.length} work dir(s) left by a previous run of this worker`);
    } else {
      this.logger.log(`start-up sweep of ${this.workRoot}: nothing left behind`);
    }
    return { containers, unmounted, removed };
  }

  /**
   * Removes sandbox containers left behind by a dead worker: those labelled with this worker's id (a previous
   * incarnation; call before taking jobs) and, when liveWorkerIds is given, those of workers not in it.
   * Containers this process is running are never touched.
   */
  async reapOrphans(options: { liveWorkerIds?: ReadonlySet<string> } = {}): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_SANDBOX}=1`] } });
    const removed: string[] = [];
    for (const c of containers) {
      if (this.active.has(c.Id)) continue;
      const owner = c.Labels[LABEL_WORKER];
      const orphan = owner === this.config.workerId || (options.liveWorkerIds !== undefined && (!owner || !options.liveWorkerIds.has(owner)));
      if (!orphan) continue;
      try {
        await this.docker.getContainer(c.Id).remove({ force: true, v: true });
        removed.push(c.Id);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    }
    if (removed.length > 0) this.logger.log(`reaped ${removed.length} orphaned sandbox container(s)`);
    return removed;
  }
}

/** Reads Docker's multiplexed attach stream (8-byte frame headers) into the capped log. */
function demux(stream: Readable, log: CappedLog): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        log.push(pending.subarray(8, 8 + size));
        pending = pending.subarray(8 + size);
      }
    });
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', () => resolve());
  });
}

function readCappedStream(stream: NodeJS.ReadableStream, cap: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer | string) => {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
      if (size < cap) chunks.push(b.subarray(0, cap - size));
      size += b.length;
    });
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** A worker id as one path segment. */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';
}

function statusCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err && typeof err.statusCode === 'number'
    ? err.statusCode
    : undefined;
}
