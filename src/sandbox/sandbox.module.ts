import { Module } from '@nestjs/common';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { DOCKER_SANDBOX_CONFIG, DockerSandboxAdapter, DockerSandboxConfig, safeName } from './docker-sandbox.adapter';
import { OnnxRunnerService } from './onnx-runner.service';

export const workerIdOf = (config: AppConfig): string => config.worker.id ?? hostname();

/** Only the worker imports this module: the API process has no Docker socket. */
@Module({
  providers: [
    {
      provide: DOCKER_SANDBOX_CONFIG,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): DockerSandboxConfig => ({
        socketPath: config.sandbox.dockerSocket,
        workerId: workerIdOf(config),
        outputCapMode: 'auto',
        policy: { mode: config.mode, allowWeakProfile: config.sandbox.allowWeakProfile },
        // Per worker: the start-up sweep removes all of it, so two workers sharing a data dir never sweep each other.
        workRoot: resolve(join(config.dataDir, 'work', `worker-${safeName(workerIdOf(config))}`)),
      }),
    },
    DockerSandboxAdapter,
    OnnxRunnerService,
  ],
  exports: [DockerSandboxAdapter, OnnxRunnerService],
})
export class SandboxModule {}
