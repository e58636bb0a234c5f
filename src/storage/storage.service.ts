import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { PassThrough, Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import * as Minio from 'minio';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { assertValidKey, BUCKET_PREFIXES, BucketName } from './storage.keys';

/** One part of a streamed upload: the most an upload holds in memory on its way to the store. */
export const PART_BYTES = 5 * 1024 * 1024;

/** A zero-byte upload: refused (the caller names the field). */
export class EmptyUploadError extends Error {
  constructor() {
    super('the upload is empty (0 bytes)');
  }
}

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

type UploadReporter = (bucket: string, key: string, uploadId: string) => void;
type InitiateHeaders = Parameters<Minio.Client['initiateNewMultipartUpload']>[2];

/** Reports each multipart upload it starts, so a failed stream can be aborted by its id (S3 keeps parts otherwise). */
class ReportingClient extends Minio.Client {
  onUpload: UploadReporter = () => undefined;
  override async initiateNewMultipartUpload(bucketName: string, objectName: string, headers: InitiateHeaders): Promise<string> {
    const id = await super.initiateNewMultipartUpload(bucketName, objectName, headers);
    this.onUpload(bucketName, objectName, id);
    return id;
  }
}

/** The same for the embedded store, which also never resumes. */
class ReportingNoResumeClient extends NoResumeClient {
  onUpload: UploadReporter = () => undefined;
  override async initiateNewMultipartUpload(bucketName: string, objectName: string, headers: InitiateHeaders): Promise<string> {
    const id = await super.initiateNewMultipartUpload(bucketName, objectName, headers);
    this.onUpload(bucketName, objectName, id);
    return id;
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
    // A failed start is not kept: a process whose first call met a store that was down connects on a later call.
    this.starting ??= this.start().catch((error: unknown) => {
      this.starting = null;
      throw error;
    });
    return this.starting;
  }

  private async start(): Promise<Minio.Client> {
    if (!this.config.storage.endpoint) await this.startEmbedded();
    const url = new URL(this.endpoint());
    const ClientClass = this.config.storage.endpoint ? ReportingClient : ReportingNoResumeClient;
    const client = new ClientClass({
      partSize: PART_BYTES,
      endPoint: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      useSSL: url.protocol === 'https:',
      accessKey: this.config.storage.accessKey,
      secretKey: this.config.storage.secretKey,
      region: this.config.storage.region,
      pathStyle: true,
    });
    client.onUpload = (b, k, id) => this.noteUploadId(b, k, id);
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
   * Streams into the store while hashing and counting, in parts of PART_BYTES (bounded memory whatever the size);
   * past limitBytes, on a source error or when the source closes before its end, the upload is stopped and nothing
   * stays. The body is ended rather than destroyed so the client's upload promise always settles; the truncated
   * object (or the incomplete multipart upload) is then removed. An empty source is refused (EmptyUploadError).
   */
  async putStream(bucket: BucketName, key: string, source: Readable, limitBytes: number): Promise<{ sha256: string; bytes: number }> {
    assertValidKey(bucket, key);
    const limiter = new HashingLimiter(limitBytes);
    const body = new PassThrough();
    let failure: unknown = null;
    const stop = (error: unknown): void => {
      if (failure) return;
      failure = error;
      source.unpipe(limiter);
      limiter.unpipe(body);
      body.end();
      // Whatever the source still holds is read and dropped, so its producer is never stuck.
      source.resume();
    };
    // Listeners first: the source may fail while the store connects.
    source.on('error', stop);
    limiter.on('error', stop);
    let ended = false;
    source.on('end', () => {
      ended = true;
    });
    source.on('close', () => {
      if (!source.readableEnded) stop(new Error('the upload stream closed before its end'));
    });
    if (source.errored) stop(source.errored);
    else if (source.destroyed) stop(new Error('the upload stream closed before its end'));
    else source.pipe(limiter).pipe(body);
    this.activeKeys.add(key);
    const bucketName = this.bucketName(bucket);
    let uploadId: string | null = null;
    try {
      const client = await this.connect();
      if (!failure) {
        // A size hint above one part makes the client stream in parts instead of buffering the whole object.
        const onUploadId = (id: string): void => {
          uploadId = id;
        };
        this.uploadIdListeners.set(`${bucketName}/${key}`, onUploadId);
        await client.putObject(bucketName, key, body, Math.max(limitBytes, PART_BYTES + 1));
      }
    } catch (error) {
      // An empty stream makes a multipart upload without parts, which the store refuses: say what really happened.
      stop(!failure && ended && limiter.bytes === 0 ? new EmptyUploadError() : error);
    } finally {
      this.uploadIdListeners.delete(`${bucketName}/${key}`);
    }
    try {
      if (!failure && limiter.bytes === 0) failure = new EmptyUploadError();
      if (failure) {
        const client = await this.connect();
        await client.removeObject(bucketName, key).catch(() => undefined);
        if (uploadId) await this.abortMultipart(bucketName, key, uploadId);
        throw failure;
      }
    } finally {
      this.activeKeys.delete(key);
    }
    return { sha256: limiter.digest(), bytes: limiter.bytes };
  }

  /** Keys being written by this process now (the sweep leaves them alone). */
  readonly activeKeys = new Set<string>();
  private readonly uploadIdListeners = new Map<string, (uploadId: string) => void>();

  /** Called by the client when it starts a multipart upload, so a failed upload can be aborted by its id. */
  noteUploadId(bucketName: string, key: string, uploadId: string): void {
    this.uploadIdListeners.get(`${bucketName}/${key}`)?.(uploadId);
  }

  /** Aborts an incomplete multipart upload; the embedded store has no abort call, so its part files are removed. */
  private async abortMultipart(bucketName: string, key: string, uploadId: string): Promise<void> {
    if (this.config.storage.endpoint) {
      const client = await this.connect();
      await client.abortMultipartUpload(bucketName, key, uploadId).catch((error: unknown) => this.logger.warn(`could not abort multipart upload of ${key}: ${String(error)}`));
      return;
    }
    await rm(join(this.embeddedUploadsDir(bucketName), uploadId), { recursive: true, force: true });
  }

  /** Where the embedded s3rver keeps the parts of incomplete multipart uploads of a bucket (one folder per upload). */
  embeddedUploadsDir(bucketName: string): string {
    return resolve(join(this.config.dataDir, 's3', bucketName, '._S3rver_uploads'));
  }

  /**
   * Incomplete multipart uploads under a prefix started before `olderThan`, and aborts them. On the embedded store
   * (which implements neither listing nor aborting) the upload folders are read and removed directly.
   */
  async abortIncompleteUploads(bucket: BucketName, prefix: string, olderThan: Date): Promise<string[]> {
    const bucketName = this.bucketName(bucket);
    const client = await this.connect();
    const aborted: string[] = [];
    if (this.config.storage.endpoint) {
      const found: { key: string; uploadId: string; initiated: Date }[] = [];
      await new Promise<void>((done, failed) => {
        const stream = client.listIncompleteUploads(bucketName, prefix, true);
        stream.on('data', (u: { key: string; uploadId: string; initiated: Date }) => found.push(u));
        stream.on('error', failed);
        stream.on('end', () => done());
      });
      for (const u of found) {
        if (u.initiated >= olderThan || this.activeKeys.has(u.key)) continue;
        await client.abortMultipartUpload(bucketName, u.key, u.uploadId);
        aborted.push(u.key);
      }
      return aborted;
    }
    const dir = this.embeddedUploadsDir(bucketName);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return aborted;
    }
    for (const uploadId of entries) {
      const path = join(dir, uploadId);
      const key = await readFile(join(path, 'key'), 'utf8').catch(() => null);
      if (key !== null && (!key.startsWith(prefix) || this.activeKeys.has(key))) continue;
      // The newest part counts: a slow upload in progress keeps writing parts.
      const names = await readdir(path).catch(() => [] as string[]);
      const times = await Promise.all([path, ...names.map((n) => join(path, n))].map((p) => stat(p).then((s) => s.mtimeMs).catch(() => 0)));
      if (Math.max(...times) >= olderThan.getTime()) continue;
      await rm(path, { recursive: true, force: true });
      aborted.push(key ?? uploadId);
    }
    return aborted;
  }

  /** Objects under a prefix, with their last-modified time and size. */
  async list(bucket: BucketName, prefix: string): Promise<{ key: string; lastModified: Date; size: number }[]> {
    const client = await this.connect();
    const out: { key: string; lastModified: Date; size: number }[] = [];
    for await (const item of client.listObjectsV2(this.bucketName(bucket), prefix, true)) {
      const o = item as { name?: string; lastModified?: Date; size?: number };
      if (o.name) out.push({ key: o.name, lastModified: o.lastModified ?? new Date(0), size: o.size ?? 0 });
    }
    return out;
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

  /**
   * Removes many objects with the store's multi-object delete (the client sends at most 1000 keys a request). A key
   * that is already gone is no error, so a removal cut short can simply be repeated; a key the store refused throws.
   */
  async removeMany(bucket: BucketName, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    for (const key of keys) assertValidKey(bucket, key);
    const client = await this.connect();
    // The client's parser gives the <Error> elements themselves, although its types wrap each in { Error }.
    type Refusal = { Code?: string; Message?: string; Key?: string };
    const errors = (await client.removeObjects(this.bucketName(bucket), [...keys]))
      .map((e) => (e && 'Error' in e ? e.Error : (e as Refusal | null | undefined)))
      .filter((e): e is Refusal => !!e && e.Code !== 'NoSuchKey');
    if (errors.length > 0) {
      const first = errors[0];
      throw new Error(`the store refused to remove ${errors.length} of ${keys.length} object(s) (first: ${first?.Key ?? '?'}: ${first?.Code ?? '?'} ${first?.Message ?? ''})`);
    }
  }
}
