import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import { hostname } from 'node:os';
import { Clock } from './common/clock';
import { APP_CONFIG } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import { RunExecutor } from './runs/evaluation.processor';
import { RunRecoveryService } from './runs/run-recovery.service';
import { FederatedRuns } from './runs/federated-runs';

/** The fallback for a node result's NOTIFY (FederatedRuns.wake): also refreshes each node's status on its runs. */
const FEDERATED_SWEEP_MS = 2_000;
import { WorkerCapabilities } from './health/health.entity';
import { HealthService, WORKER_HEARTBEAT_MS } from './health/health.service';
import { JobRegistry } from './queue/job-registry';
import { JobName, QueueName } from './queue/queue.constants';
import { consumeQueue } from './queue/queue-consumers';
import { QueueService } from './queue/queue.service';
import { DockerSandboxAdapter } from './sandbox/docker-sandbox.adapter';
import { detectGpus, GpuPool } from './sandbox/gpu-inventory';
import { OnnxRunnerService } from './sandbox/onnx-runner.service';
import { workerIdOf } from './sandbox/sandbox.module';
import { ModelCheckStep } from './runs/model-check.processor';
import { ReportJobs } from './reports/report-pipeline';

/** Consumes the queues this host can serve, advertises its capabilities, and recovers abandoned runs. */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Worker');
  private readonly registry = new JobRegistry();
  private timers: NodeJS.Timeout[] = [];
  private consumed: QueueName[] = [];
  readonly id: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: QueueService,
    private readonly sandbox: DockerSandboxAdapter,
    private readonly runner: OnnxRunnerService,
    private readonly executor: RunExecutor,
    private readonly check: ModelCheckStep,
    private readonly recovery: RunRecoveryService,
    private readonly health: HealthService,
    private readonly clock: Clock,
    private readonly reports: ReportJobs,
    private readonly federated: FederatedRuns,
  ) {
    this.id = workerIdOf(config);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Fail fast with a clear message: no engine, no runner image, or a weak profile in production.
    const engine = await this.sandbox.info().catch((error: unknown) => {
      throw new Error(`worker cannot reach the Docker engine at ${this.config.sandbox.dockerSocket}: ${(error as Error).message} (run scripts/setup-docker.sh)`);
    });
    const { runtime, imageId } = await this.runner.resolveRuntime();
    // Containers, mounts and work dirs a dead incarnation of this worker left, before any job is taken.
    await this.sandbox.sweep();
    const gpus = await detectGpus(this.config.worker.gpus, this.sandbox.policy);
    this.logger.log(gpus.note);
    const pool = new GpuPool(gpus.devices.map((d) => d.id));

    this.registry.register(JobName.CheckSubmission, (p, m) => this.check.check(p, m));
    this.registry.register(JobName.ExecuteRun, (p, m) => this.executor.execute(p, m.gpus ? { gpus: m.gpus } : {}));
    this.registry.register(JobName.ScoreRun, (p, m) => this.executor.score(p, m));
    this.registry.register(JobName.GenerateReport, (p) => this.reports.handle(p));
    this.registry.assertComplete();

    // One consumer per queue (queue-consumers.ts), every job dispatched through the registry by its name.
    const consumed: QueueName[] = [];
    const concurrency = this.config.worker.concurrency;
    const onError = (queue: QueueName) => (error: unknown) => this.logger.error(`consumer of ${queue} stopped: ${String(error)}`);
    for (const queueName of [QueueName.SandboxCpu, QueueName.Scoring]) {
      consumeQueue(this.queue.queue(queueName), { concurrency: queueName === QueueName.Scoring ? Math.max(2, concurrency) : concurrency, registry: this.registry, onError: onError(queueName) });
      consumed.push(queueName);
    }
    // Reports render in chromium: one at a time per worker, apart from the sandbox and scoring queues.
    consumeQueue(this.queue.queue(QueueName.Reports), { concurrency: 1, registry: this.registry, onError: onError(QueueName.Reports) });
    consumed.push(QueueName.Reports);
    this.consumed = consumed;
    if (gpus.devices.length > 0) {
      // One job per device: concurrency equals the number of GPUs, and each job holds its device until it ends.
      consumeQueue(this.queue.queue(QueueName.SandboxGpu), {
        concurrency: gpus.devices.length,
        registry: this.registry,
        onError: onError(QueueName.SandboxGpu),
        context: () => {
          const device = pool.acquire();
          if (device === null) throw new Error('no free GPU although the queue concurrency equals the device count');
          return { ctx: { gpus: { deviceIds: [device] } }, release: () => pool.release(device) };
        },
      });
      consumed.push(QueueName.SandboxGpu);
    }

    const capabilities: WorkerCapabilities = {
      docker: { ok: true, version: engine.serverVersion, runtimes: engine.runtimes },
      sandboxRuntime: runtime,
      gpus: gpus.devices,
      queues: consumed,
      runnerImage: { ref: this.config.sandbox.runnerImage, id: imageId },
    };
    const now = this.clock.now();
    await this.health.registerWorker({ id: this.id, hostname: hostname(), capabilities, startedAt: now, heartbeatAt: now });
    this.timers.push(setInterval(() => void this.health.touchWorker(this.id).catch(() => undefined), WORKER_HEARTBEAT_MS));
    await this.recovery.sweep();
    this.timers.push(setInterval(() => void this.recovery.sweep().catch((e: unknown) => this.logger.error(`recovery sweep: ${String(e)}`)), Math.max(5_000, this.config.worker.runStaleMs / 2)));
    // Federated runs (issue 11) move on when a node's result is stored (NOTIFY); this sweep is the fallback and keeps
    // each node's status (waiting_for_node) current: one indexed query when idle.
    let following = false;
    this.timers.push(
      setInterval(() => {
        if (following) return;
        following = true;
        void this.federated
          .sweep()
          .catch((e: unknown) => this.logger.error(`federated runs: ${String(e)}`))
          .finally(() => (following = false));
      }, FEDERATED_SWEEP_MS),
    );
    this.logger.log(`worker ${this.id} consuming ${consumed.join(', ')} with ${runtime} (runner image ${imageId.slice(0, 19)})`);
  }

  /**
   * Shutting down (SIGTERM, `app.close()`), before any module lets go of PostgreSQL, Redis or the object store (this
   * module's hook runs first): take no new job, stop the sandbox containers in flight (their steps hand the work back
   * uncounted: WorkerDrainingError), and wait up to ASSAY_WORKER_DRAIN_MS for every handler to record its outcome.
   * Scoring and report jobs in flight are short and simply finish. What is still running after that is left to the
   * recovery sweep, as a killed worker's would be.
   */
  async onModuleDestroy(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const t0 = Date.now();
    const inFlight = this.registry.inFlight;
    // Local pause, not waiting for the active jobs: no job is taken from here on; the handlers in flight go on.
    await Promise.all(this.consumed.map((name) => this.queue.queue(name).pause(true, true).catch(() => undefined)));
    this.sandbox.drain();
    const left = await this.registry.idle(this.config.worker.drainMs);
    if (inFlight > 0 || left > 0) this.logger.warn(`worker ${this.id} drained: ${inFlight - left} of ${inFlight} job(s) in flight recorded their outcome in ${Date.now() - t0} ms${left > 0 ? `; ${left} still running are left to the recovery sweep` : ''}`);
    // Closed here without waiting for jobs: Bull's own close (at application shutdown, after PostgreSQL is gone) would
    // wait for a handler still running past the drain limit for ever. Its later close() returns this one.
    await Promise.all(Object.values(QueueName).map((name) => this.queue.queue(name).close(true).catch(() => undefined)));
  }

  async onApplicationShutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
