import { Column, Entity, PrimaryColumn } from 'typeorm';

export interface WorkerCapabilities {
  docker: { ok: boolean; version?: string; runtimes: string[]; error?: string };
  sandboxRuntime: string | null;
  gpus: { id: string; name?: string; memoryMiB?: number }[];
  queues: string[];
  runnerImage: { ref: string; id: string | null };
}

/** Workers advertise what they have; the API reports it (the API process itself has no Docker socket). */
@Entity('workers')
export class WorkerEntity {
  @PrimaryColumn({ type: 'text' }) id!: string;
  @Column({ type: 'text' }) hostname!: string;
  @Column({ type: 'jsonb' }) capabilities!: WorkerCapabilities;
  @Column({ type: 'timestamptz' }) startedAt!: Date;
  @Column({ type: 'timestamptz' }) heartbeatAt!: Date;
}
