import { Module } from '@nestjs/common';
import { hostname } from 'node:os';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { DOCKER_SANDBOX_CONFIG, DockerSandboxAdapter, DockerSandboxConfig } from './docker-sandbox.adapter';
import { OnnxRunnerService } from './onnx-runner.service';

export const workerIdOf = (config: AppConfig): string => config.worker.id ?? hostname();

/** Only the worker imports this module: the API process has no Docker socket. */
@Module({
  providers: [
    {
      provide: DOCKER_SANDBOX_CONFIG,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): DockerSandboxConfig => ({ socketPath: config.sandbox.dockerSocket, workerId: workerIdOf(config), outputCapMode: 'auto' }),
    },
    DockerSandboxAdapter,
    OnnxRunnerService,
  ],
  exports: [DockerSandboxAdapter, OnnxRunnerService],
})
export class SandboxModule {}
