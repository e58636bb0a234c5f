import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { QueueService } from '../queue/queue.service';
import { StorageService } from '../storage/storage.service';
import { WorkerEntity } from './health.entity';
import { HealthRepository } from './health.repository';

/** Workers heartbeat every 10 s; one silent for 30 s is not counted as live. */
export const WORKER_HEARTBEAT_MS = 10_000;
const WORKER_LIVE_MS = 30_000;

export interface ComponentHealth {
  ok: boolean;
  latencyMs: number;
  error?: string;
  detail?: unknown;
}

export interface HealthReport {
  ok: boolean;
  postgres: ComponentHealth;
  redis: ComponentHealth;
  objectStore: ComponentHealth;
  docker: ComponentHealth;
}

/** What anyone may see: up or down per component, nothing an attacker could fingerprint. */
export interface HealthSummary {
  ok: boolean;
  postgres: 'up' | 'down';
  redis: 'up' | 'down';
  objectStore: 'up' | 'down';
  docker: 'up' | 'down';
}

const upDown = (c: ComponentHealth): 'up' | 'down' => (c.ok ? 'up' : 'down');

export function summarise(r: HealthReport): HealthSummary {
  return { ok: r.ok, postgres: upDown(r.postgres), redis: upDown(r.redis), objectStore: upDown(r.objectStore), docker: upDown(r.docker) };
}

async function probe(work: () => Promise<unknown>): Promise<ComponentHealth> {
  const t0 = Date.now();
  try {
    const detail = await work();
    return { ok: true, latencyMs: Date.now() - t0, ...(detail === undefined ? {} : { detail }) };
  } catch (error) {
    return { ok: false, latencyMs: Date.now() - t0, error: error instanceof Error ? error.message : String(error) };
  }
}

@Injectable()
export class HealthService {
  constructor(
    private readonly repository: HealthRepository,
    private readonly queue: QueueService,
    private readonly storage: StorageService,
    private readonly clock: Clock,
  ) {}

  /** Docker is reported through the workers (the API has no Docker socket): each says what its engine has. */
  async report(): Promise<HealthReport> {
    const [postgres, redis, objectStore] = await Promise.all([
      probe(() => this.repository.ping()),
      probe(() => this.queue.ping()),
      probe(async () => {
        await this.storage.ping();
        return { endpoint: this.storage.endpoint() };
      }),
    ]);
    const docker = await probe(async () => {
      const workers = await this.repository.findLiveWorkers(new Date(this.clock.now().getTime() - WORKER_LIVE_MS));
      const withDocker = workers.filter((w) => w.capabilities.docker.ok);
      if (withDocker.length === 0) throw new Error(workers.length === 0 ? 'no live worker (start one: npm run start:worker)' : 'no live worker reaches a Docker engine');
      return workers.map((w) => ({ worker: w.id, heartbeatAt: w.heartbeatAt.toISOString(), ...w.capabilities }));
    });
    return { ok: postgres.ok && redis.ok && objectStore.ok && docker.ok, postgres, redis, objectStore, docker };
  }

  registerWorker(worker: WorkerEntity): Promise<void> {
    return this.repository.upsertWorker(worker);
  }

  touchWorker(id: string): Promise<void> {
    return this.repository.touchWorker(id, this.clock.now());
  }
}
