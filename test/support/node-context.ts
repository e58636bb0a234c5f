import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.schema';
import { NodeRunsModule } from '../../src/node-runs/node-runs.module';
import { freePort } from './test-stack';

/** A federated node's application context in this process: its own object store (an S3 server of its own) and data folder. */
export async function startNodeContext(name: string): Promise<{ ctx: INestApplicationContext; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), `assay-node-${name}-`));
  const config = loadConfig({
    ASSAY_MODE: 'test',
    ASSAY_S3_EMBEDDED_PORT: String(await freePort()),
    ASSAY_DATA_DIR: dataDir,
    ASSAY_WORKER_ID: `node-${name}-${randomBytes(3).toString('hex')}`,
    ASSAY_WORKER_GPUS: 'none',
    ASSAY_LOG_LEVEL: 'warn',
  });
  const ctx = await NestFactory.createApplicationContext(NodeRunsModule.forRoot(config), { logger: ['error', 'warn'] });
  return { ctx, dataDir };
}
