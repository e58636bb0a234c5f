import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { PassThrough, Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import * as Minio from 'minio';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { assertValidKey, BUCKET_PREFIXES, BucketName } from './storage.keys';

export class SizeLimitExceededError extends Error {
  constructor(readonly limitBytes: number) {
    super(`upload exceeds the limit of ${limitBytes} bytes`);
  }
}

/** Counts and hashes bytes as they pass, and fails the stream past a size limit. */
export class HashingLimiter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limitBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limitBytes) {
      callback(new SizeLimitExceededError(this.limitBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}

/**
 * For the embedded s3rver: it does not implement ListMultipartUploads, which the minio client calls only to resume an
 * earlier multipart upload of the same key. Assay streams to unique staging keys and never resumes, so there is never
 * anything to find. Real MinIO/S3 keep the stock client (and so abort incomplete uploads properly).
 */
class NoResumeClient extends Minio.Client {
  override async findUploadId(): Promise<string | undefined> {
    return undefined;
  }
}

interface EmbeddedServer {
  close(): Promise<void>;
}

/**
 * The object store, through the minio client only. When no endpoint is configured, an S3-compatible server (s3rver)
 * is started in-process on loopback; if its port is taken, another Assay process on this machine already serves it.
 */
@Injectable()
export class StorageService implements OnModuleDestroy {
  private readonly logger = new Logger('StorageService');
  private client: Minio.Client | null = null;
  private embedded: EmbeddedServer | null = null;
  private starting: Promise<Minio.Client> | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  bucketName(bucket: BucketName): string {
    return `${this.config.storage.bucketPrefix}-${bucket}`;
  }

  endpoint(): string {
    return this.config.storage.endpoint ?? `http://127.0.0.1:${this.config.storage.embeddedPort}`;
  }

  async connect(): Promise<Minio.Client> {
    if (this.client) return this.client;
    this.starting ??= this.start();
    return this.starting;
  }

  private async start(): Promise<Minio.Client> {
    if (!this.config.storage.endpoint) await this.startEmbedded();
    const url = new URL(this.endpoint());
    const ClientClass = this.config.storage.endpoint ? Minio.Client : NoResumeClient;
    const client = new ClientClass({
      endPoint: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      useSSL: url.protocol === 'https:',
      accessKey: this.config.storage.accessKey,
      secretKey: this.config.storage.secretKey,
      region: this.config.storage.region,
      pathStyle: true,
    });
    for (const bucket of Object.keys(BUCKET_PREFIXES) as BucketName[]) {
      const name = this.bucketName(bucket);
      if (!(await client.bucketExists(name))) {
        try {
          await client.makeBucket(name, this.config.storage.region);
        } catch (error) {
          // Another process may have created it between the check and the call.
          if (!(await client.bucketExists(name))) throw error;
        }
      }
    }
    this.client = client;
    return client;
  }

  private async startEmbedded(): Promise<void> {
    // s3rver has no types; it is only loaded when Assay runs on its embedded defaults.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require('s3rver') as new (options: Record<string, unknown>) => {
      run(): Promise<unknown>;
      close(cb: (err?: Error) => void): void;
    };
    const directory = resolve(join(this.config.dataDir, 's3'));
    mkdirSync(directory, { recursive: true });
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.config.storage.embeddedPort,
      silent: true,
      directory,
      allowMismatchedSignatures: false,
    });
    // s3rver reports a taken port as an unhandled 'error' event, not a rejection: probe the port first.
    if (!(await portIsFree(this.config.storage.embeddedPort))) {
      this.logger.log(`object store port ${this.config.storage.embeddedPort} is served by another Assay process`);
      return;
    }
    await server.run();
    this.embedded = { close: () => new Promise((res, rej) => server.close((err) => (err ? rej(err) : res()))) };
    this.logger.log(`embedded S3-compatible server on ${this.endpoint()} (data in ${directory})`);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.embedded) await this.embedded.close();
    this.embedded = null;
  }

  async ping(): Promise<void> {
    const client = await this.connect();
    await client.bucketExists(this.bucketName('inputs'));
  }

  async putBuffer(bucket: BucketName, key: string, data: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    await client.putObject(this.bucketName(bucket), key, data, data.length, { 'Content-Type': contentType });
  }

  /**
   * Streams into the store while hashing and counting; past limitBytes (or on a source error) the upload is stopped
   * and nothing stays. The body is ended rather than destroyed so the client's upload promise always settles; the
   * truncated object is then removed.
   */
  async putStream(bucket: BucketName, key: string, source: Readable, limitBytes: number): Promise<{ sha256: string; bytes: number }> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    const limiter = new HashingLimiter(limitBytes);
    const body = new PassThrough();
    let failure: unknown = null;
    const stop = (error: unknown): void => {
      if (failure) return;
      failure = error;
      source.unpipe(limiter);
      limiter.unpipe(body);
      body.end();
    };
    source.on('error', stop);
    limiter.on('error', stop);
    source.pipe(limiter).pipe(body);
    try {
      await client.putObject(this.bucketName(bucket), key, body);
    } catch (error) {
      stop(error);
    }
    if (failure) {
      await this.remove(bucket, key).catch(() => undefined);
      await client.removeIncompleteUpload(this.bucketName(bucket), key).catch(() => undefined);
      throw failure;
    }
    return { sha256: limiter.digest(), bytes: limiter.bytes };
  }

  async getBuffer(bucket: BucketName, key: string): Promise<Buffer> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    const stream = await client.getObject(this.bucketName(bucket), key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(bucket: BucketName, key: string): Promise<Readable> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    return client.getObject(this.bucketName(bucket), key);
  }

  async downloadToFile(bucket: BucketName, key: string, path: string): Promise<void> {
    await pipeline(await this.getStream(bucket, key), createWriteStream(path, { mode: 0o644 }));
  }

  async copy(bucket: BucketName, fromKey: string, toKey: string): Promise<void> {
    assertValidKey(bucket, fromKey);
    assertValidKey(bucket, toKey);
    const client = await this.connect();
    const name = this.bucketName(bucket);
    await client.copyObject(name, toKey, `/${name}/${fromKey}`, new Minio.CopyConditions());
  }

  async exists(bucket: BucketName, key: string): Promise<boolean> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    try {
      await client.statObject(this.bucketName(bucket), key);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'NotFound' || (error as { code?: string }).code === 'NoSuchKey') return false;
      throw error;
    }
  }

  async remove(bucket: BucketName, key: string): Promise<void> {
    assertValidKey(bucket, key);
    const client = await this.connect();
    await client.removeObject(this.bucketName(bucket), key);
  }
}
