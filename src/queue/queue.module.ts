import { BullModule } from '@nestjs/bull';
import { Global, Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { ALL_QUEUES } from './queue.constants';

export function redisOptionsFromUrl(url: string): { host: string; port: number; db: number; password?: string; tls?: object } {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.replace('/', '') || 0),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
import { ActiveWork } from './active-work';
import { QueueService } from './queue.service';

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        redis: redisOptionsFromUrl(config.redis.url),
        prefix: config.redis.queuePrefix,
        // A killed worker's active job is found stalled after lockDuration and served again within stalledInterval.
        settings: { lockDuration: config.worker.queueLockMs, stalledInterval: config.worker.queueLockMs, maxStalledCount: 2 },
      }),
    }),
    BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
  ],
  providers: [QueueService, ActiveWork],
  exports: [QueueService, ActiveWork],
})
export class QueueModule {}
