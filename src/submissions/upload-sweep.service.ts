import { Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { StorageService } from '../storage/storage.service';
import { SubmissionsModule } from './submissions.module';
import { SubmissionsService } from './submissions.service';

export interface UploadSweepResult {
  staging: string[];
  incompleteUploads: string[];
  unreferenced: string[];
}

/**
 * Removes what failed or crashed uploads left in the submissions bucket, older than `uploads.staleAfterMs`: staging
 * objects, incomplete multipart uploads (the embedded store never aborts them itself) and content-addressed objects
 * that no submission row references (a crash between the copy and the commit). It runs in the API process: the API
 * writes these objects, and the embedded store's files live beside it. Keys being written now are skipped, and an
 * unreferenced object is removed under the same lock an upload takes, so a concurrent upload of the same bytes keeps it.
 */
@Injectable()
export class UploadSweepService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('UploadSweep');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<UploadSweepResult> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly storage: StorageService,
    private readonly submissions: SubmissionsService,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.uploads.sweepIntervalMs;
    if (every <= 0) return;
    const tick = (): void => {
      this.sweep().catch((error: unknown) => this.logger.warn(`upload sweep failed (next in ${every} ms): ${String(error)}`));
    };
    this.timer = setInterval(tick, every);
    this.timer.unref();
    setImmediate(tick);
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass (never two at once). `staleAfterMs` defaults to the configured limit. */
  sweep(staleAfterMs = this.config.uploads.staleAfterMs): Promise<UploadSweepResult> {
    this.running ??= this.pass(staleAfterMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(staleAfterMs: number): Promise<UploadSweepResult> {
    const olderThan = new Date(Date.now() - staleAfterMs);
    const result: UploadSweepResult = { staging: [], incompleteUploads: [], unreferenced: [] };
    for (const o of await this.storage.list('submissions', 'staging/')) {
      if (o.lastModified >= olderThan || this.storage.activeKeys.has(o.key)) continue;
      await this.storage.remove('submissions', o.key);
      result.staging.push(o.key);
    }
    result.incompleteUploads = await this.storage.abortIncompleteUploads('submissions', 'staging/', olderThan);
    for (const o of await this.storage.list('submissions', 'submissions/')) {
      if (o.lastModified >= olderThan) continue;
      if (await this.submissions.removeIfUnreferenced(o.key)) result.unreferenced.push(o.key);
    }
    const removed = result.staging.length + result.incompleteUploads.length + result.unreferenced.length;
    if (removed > 0) this.logger.log(`upload sweep removed ${result.staging.length} staging objects, ${result.incompleteUploads.length} incomplete uploads, ${result.unreferenced.length} unreferenced submission objects`);
    return result;
  }
}

/** Imported by the API module only (see UploadSweepService for why the API). */
@Module({ imports: [SubmissionsModule], providers: [UploadSweepService], exports: [UploadSweepService] })
export class UploadSweepModule {}
