import { availableParallelism } from 'node:os';
import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

/** 'false', a named range, a hop count, or IP addresses/CIDRs (never 'true': that trusts any client's header). */
const TRUST_PROXY_ADDRESS = String.raw`(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*)(\/\d{1,3})?`;
const TRUST_PROXY_PATTERN = new RegExp(String.raw`^(false|loopback|linklocal|uniquelocal|[1-9]|${TRUST_PROXY_ADDRESS}(,\s*${TRUST_PROXY_ADDRESS})*)$`);

function trustProxyOf(value: string | undefined): false | number | string {
  if (value === undefined || value === 'false') return false;
  return /^[1-9]$/.test(value) ? Number(value) : value;
}

/** Must match sandbox-images/onnx-runner/VERSION (a unit test checks it); the worker then pins the image ID. */
export const DEFAULT_RUNNER_IMAGE = 'assay/onnx-runner:1.3.0';

const toInt = ({ value }: { value: unknown }): unknown => (value === undefined || value === '' ? undefined : Number(value));
const toBool = ({ value }: { value: unknown }): unknown =>
  value === undefined || value === '' ? undefined : ['1', 'true', 'yes'].includes(String(value).toLowerCase());

/** Every environment variable Assay reads, validated once at boot. Nothing outside src/config reads process.env. */
export class EnvSchema {
  @IsOptional() @IsIn(['development', 'production', 'test']) ASSAY_MODE?: string;
  @IsOptional() @IsString() ASSAY_HTTP_HOST?: string;
  /** Express `trust proxy`: which hops may set X-Forwarded-For (the lockout and audit key on the client's IP). */
  @IsOptional() @Matches(TRUST_PROXY_PATTERN, { message: "ASSAY_TRUST_PROXY must be 'false', 'loopback', 'linklocal', 'uniquelocal', a hop count 1-9, or comma-separated IP addresses/CIDRs" }) ASSAY_TRUST_PROXY?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ASSAY_HTTP_PORT?: number;
  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must start with postgres://' }) DATABASE_URL?: string;
  @IsOptional() @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must start with redis://' }) REDIS_URL?: string;
  @IsOptional() @IsString() ASSAY_QUEUE_PREFIX?: string;
  @IsOptional() @Matches(/^https?:\/\/[^/]+$/, { message: 'ASSAY_S3_ENDPOINT must look like http://host:port' })
  ASSAY_S3_ENDPOINT?: string;
  @IsOptional() @IsString() ASSAY_S3_ACCESS_KEY?: string;
  @IsOptional() @IsString() ASSAY_S3_SECRET_KEY?: string;
  @IsOptional() @IsString() ASSAY_S3_REGION?: string;
  @IsOptional() @Matches(/^[a-z0-9-]{0,40}$/, { message: 'ASSAY_S3_BUCKET_PREFIX: lower-case letters, digits and -' })
  ASSAY_S3_BUCKET_PREFIX?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ASSAY_S3_EMBEDDED_PORT?: number;
  @IsOptional() @IsString() ASSAY_DATA_DIR?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_MAX_MODEL_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_MAX_IMAGE_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_MAX_COHORT_ARCHIVE_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_MAX_IMAGE_UNPACKED_BYTES?: number;
  @IsOptional() @IsIn(['auto', 'runsc', 'runc']) ASSAY_SANDBOX_RUNTIME?: string;
  @IsOptional() @Transform(toBool) @IsBoolean() ASSAY_ALLOW_WEAK_SANDBOX?: boolean;
  @IsOptional() @IsString() ASSAY_RUNNER_IMAGE?: string;
  @IsOptional() @IsString() ASSAY_DOCKER_SOCKET?: string;
  @IsOptional() @Matches(/^(auto|none|[0-9]+(,[0-9]+)*)$/, { message: 'ASSAY_WORKER_GPUS: auto, none or a list like 0,1' })
  ASSAY_WORKER_GPUS?: string;
  @IsOptional() @IsString() ASSAY_WORKER_ID?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(64) ASSAY_WORKER_CONCURRENCY?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(64) ASSAY_SCORING_THREADS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100) ASSAY_SSE_PER_USER?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) ASSAY_RUN_STALE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) ASSAY_UPLOAD_SWEEP_INTERVAL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(60_000) ASSAY_UPLOAD_STALE_AFTER_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) ASSAY_QUEUE_LOCK_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) ASSAY_WORKER_DRAIN_MS?: number;
  @IsOptional() @IsString() ASSAY_CATALOGUE_DIR?: string;
  @IsOptional() @IsString() ASSAY_GENERATED_DIR?: string;
  @IsOptional() @IsString() ASSAY_REPORT_KEY_DIR?: string;
  @IsOptional() @IsIn(['error', 'warn', 'log', 'debug', 'verbose']) ASSAY_LOG_LEVEL?: string;
  /** json: one JSON object a line (pino), the default in production; pretty: one readable line each, for development. */
  @IsOptional() @IsIn(['json', 'pretty']) ASSAY_LOG_FORMAT?: string;
  /** The Prometheus listener of this process (API or worker), apart from the API's port; unset: none. 0: any free port. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ASSAY_METRICS_PORT?: number;
  @IsOptional() @IsString() ASSAY_METRICS_HOST?: string;
  /** A scrape must send `Authorization: Bearer <token>` when set (printable, no spaces, 16-512 characters). */
  @IsOptional() @Matches(/^[\x21-\x7e]{16,512}$/, { message: 'ASSAY_METRICS_TOKEN: 16-512 printable characters, no spaces' }) ASSAY_METRICS_TOKEN?: string;
  /** The chromium that prints PDF reports (Debian's, by default). */
  @IsOptional() @IsString() ASSAY_CHROMIUM?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(3650) ASSAY_TOKEN_DEFAULT_DAYS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(3650) ASSAY_TOKEN_MAX_DAYS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_AUTH_MAX_FAILURES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) ASSAY_AUTH_FAILURE_WINDOW_S?: number;
  /** Federation, hub side: how long a node's lease on a job lasts, and how far a node's clock may be off. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) ASSAY_NODE_LEASE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(5) @Max(3600) ASSAY_NODE_CLOCK_SKEW_S?: number;
  /** Federation, node side (src/node.ts): the hub's URL, this node's id there, its key file and its policy file. */
  @IsOptional() @Matches(/^https?:\/\/[^/?#]+(\/[^?#]*)?$/, { message: 'ASSAY_HUB_URL must look like https://hub.example.org' }) ASSAY_HUB_URL?: string;
  @IsOptional() @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, { message: 'ASSAY_NODE_ID must be the node id the hub gave at registration (a UUID)' }) ASSAY_NODE_ID?: string;
  @IsOptional() @IsString() ASSAY_NODE_KEY_FILE?: string;
  @IsOptional() @IsString() ASSAY_NODE_POLICY_FILE?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(3_600_000) ASSAY_NODE_HEARTBEAT_MS?: number;
}

/** Credentials that ship with s3rver and MinIO: anyone can guess them. */
export const DEFAULT_OBJECT_STORE_CREDENTIALS = ['S3RVER', 'minioadmin'];

export interface AppConfig {
  mode: 'development' | 'production' | 'test';
  /** trustProxy: Express's `trust proxy` value; false unless a reverse proxy in front of the API is named. */
  http: { host: string; port: number; trustProxy: false | number | string; /** live run-event streams per user and API process */ ssePerUser: number };
  database: { url: string };
  redis: { url: string; queuePrefix: string };
  storage: {
    /** Empty: an S3-compatible server is started in-process on loopback (embeddedPort), data under dataDir/s3. */
    endpoint: string | null;
    accessKey: string;
    secretKey: string;
    region: string;
    bucketPrefix: string;
    embeddedPort: number;
  };
  dataDir: string;
  catalogueDir: string;
  /** Generated (SYNTHETIC) cohorts, made once from their seed and reused: a cache, safe to delete. */
  generatedDir: string;
  /**
   * Validation reports: keyDir holds the Ed25519 private keys that sign them (PKCS8 PEM, 0600, in 0700 directories);
   * every API process and worker that signs must see the same directory (the public halves are in the database).
   */
  reports: { keyDir: string; /** the chromium binary that prints their PDFs */ chromiumPath: string };
  /** maxCohortArchiveBytes: an imaging cohort uploaded as a tar archive (POST /api/cohorts/imaging), as sent and as unpacked. */
  limits: { maxModelBytes: number; maxImageBytes: number; maxImageUnpackedBytes: number; maxCohortArchiveBytes: number };
  sandbox: {
    runtime: 'auto' | 'runsc' | 'runc';
    allowWeakProfile: boolean;
    runnerImage: string;
    dockerSocket: string;
  };
  worker: {
    id: string | null;
    gpus: 'auto' | 'none' | string[];
    concurrency: number;
    /** Threads for per-case scoring work (segmentation masks): default min(4, available cores). */
    scoringThreads: number;
    /** A run whose worker has not written a heartbeat for this long (ms) is considered abandoned. */
    runStaleMs: number;
    /** Bull's job lock (and stalled-job check interval): a job of a killed worker is served again after about twice this. */
    queueLockMs: number;
    /** Shutting down, how long the worker waits for its jobs in flight to hand their work back (ms). */
    drainMs: number;
  };
  /** The API's sweep of what failed uploads left (0: no sweep); objects younger than staleAfterMs are left alone. */
  uploads: { sweepIntervalMs: number; staleAfterMs: number };
  /** Token lifetimes (days) and the per-IP lockout after failed authentication (shared through Redis). */
  auth: { tokenDefaultDays: number; tokenMaxDays: number; maxFailures: number; failureWindowS: number };
  /**
   * Federation (src/federation). Hub: leaseMs (a node's lease on a job), clockSkewS (the window around the hub's time
   * a signed node request's timestamp must fall in). Node: hubUrl (null: not a node), nodeId, keyFile, policyFile,
   * heartbeatMs.
   */
  federation: { leaseMs: number; clockSkewS: number; hubUrl: string | null; nodeId: string | null; keyFile: string; policyFile: string; heartbeatMs: number };
  logLevel: 'error' | 'warn' | 'log' | 'debug' | 'verbose';
  /** Log lines: JSON objects (pino) or readable lines (development); see src/observability/logger.ts. */
  logFormat: 'json' | 'pretty';
  /**
   * The Prometheus scrape listener (src/observability): port null = none, 0 = any free port (tests). It is never the
   * API's port: /metrics is not served to the clients of the API at all. token: a scrape must present it as a bearer token.
   */
  metrics: { port: number | null; host: string; token: string | null };
}

const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'];

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const parsed = plainToInstance(EnvSchema, env, { enableImplicitConversion: false });
  const errors = validateSync(parsed, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new ConfigValidationError(
      errors.flatMap((e) => Object.values(e.constraints ?? {}).map((m) => `${e.property}: ${m}`)),
    );
  }
  const gpus = parsed.ASSAY_WORKER_GPUS ?? 'auto';
  const mode = (parsed.ASSAY_MODE as AppConfig['mode'] | undefined) ?? 'development';
  const accessKey = parsed.ASSAY_S3_ACCESS_KEY ?? 'S3RVER';
  const secretKey = parsed.ASSAY_S3_SECRET_KEY ?? 'S3RVER';
  const tokenDefaultDays = parsed.ASSAY_TOKEN_DEFAULT_DAYS ?? 30;
  const tokenMaxDays = parsed.ASSAY_TOKEN_MAX_DAYS ?? 365;
  const problems: string[] = [];
  if (mode === 'production') {
    if (DEFAULT_OBJECT_STORE_CREDENTIALS.includes(accessKey)) problems.push(`ASSAY_S3_ACCESS_KEY: the default '${accessKey}' is refused in production mode`);
    if (DEFAULT_OBJECT_STORE_CREDENTIALS.includes(secretKey)) problems.push(`ASSAY_S3_SECRET_KEY: the default '${secretKey}' is refused in production mode`);
  }
  const metricsHost = parsed.ASSAY_METRICS_HOST ?? '127.0.0.1';
  const metricsPort = parsed.ASSAY_METRICS_PORT ?? null;
  const metricsToken = parsed.ASSAY_METRICS_TOKEN ?? null;
  // Queue depths and failure counts are the facility's business: off loopback, a production scrape must authenticate.
  if (mode === 'production' && metricsPort !== null && !LOOPBACK_HOSTS.includes(metricsHost) && metricsToken === null) {
    problems.push(`ASSAY_METRICS_TOKEN: required in production when ASSAY_METRICS_HOST (${metricsHost}) is not a loopback address`);
  }
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === (parsed.ASSAY_HTTP_PORT ?? 3000)) {
    problems.push(`ASSAY_METRICS_PORT: ${metricsPort} is the API's port (ASSAY_HTTP_PORT); metrics have a listener of their own`);
  }
  if (tokenDefaultDays > tokenMaxDays) problems.push(`ASSAY_TOKEN_DEFAULT_DAYS: ${tokenDefaultDays} exceeds ASSAY_TOKEN_MAX_DAYS (${tokenMaxDays})`);
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return {
    mode,
    http: { host: parsed.ASSAY_HTTP_HOST ?? '127.0.0.1', port: parsed.ASSAY_HTTP_PORT ?? 3000, trustProxy: trustProxyOf(parsed.ASSAY_TRUST_PROXY), ssePerUser: parsed.ASSAY_SSE_PER_USER ?? 4 },
    database: { url: parsed.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/assay' },
    redis: { url: parsed.REDIS_URL ?? 'redis://127.0.0.1:6379', queuePrefix: parsed.ASSAY_QUEUE_PREFIX ?? 'assay' },
    storage: {
      endpoint: parsed.ASSAY_S3_ENDPOINT ?? null,
      accessKey,
      secretKey,
      region: parsed.ASSAY_S3_REGION ?? 'us-east-1',
      bucketPrefix: parsed.ASSAY_S3_BUCKET_PREFIX ?? 'assay',
      embeddedPort: parsed.ASSAY_S3_EMBEDDED_PORT ?? 9100,
    },
    dataDir: parsed.ASSAY_DATA_DIR ?? '.assay',
    catalogueDir: parsed.ASSAY_CATALOGUE_DIR ?? '.',
    generatedDir: parsed.ASSAY_GENERATED_DIR ?? `${parsed.ASSAY_DATA_DIR ?? '.assay'}/generated`,
    reports: { keyDir: parsed.ASSAY_REPORT_KEY_DIR ?? `${parsed.ASSAY_DATA_DIR ?? '.assay'}/private/report-keys`, chromiumPath: parsed.ASSAY_CHROMIUM ?? '/usr/bin/chromium' },
    limits: {
      maxModelBytes: parsed.ASSAY_MAX_MODEL_BYTES ?? 200 * 1024 * 1024,
      maxImageBytes: parsed.ASSAY_MAX_IMAGE_BYTES ?? 20 * 1024 * 1024 * 1024,
      maxImageUnpackedBytes: parsed.ASSAY_MAX_IMAGE_UNPACKED_BYTES ?? 40 * 1024 * 1024 * 1024,
      maxCohortArchiveBytes: parsed.ASSAY_MAX_COHORT_ARCHIVE_BYTES ?? 8 * 1024 * 1024 * 1024,
    },
    sandbox: {
      runtime: (parsed.ASSAY_SANDBOX_RUNTIME as AppConfig['sandbox']['runtime'] | undefined) ?? 'auto',
      allowWeakProfile: parsed.ASSAY_ALLOW_WEAK_SANDBOX ?? false,
      runnerImage: parsed.ASSAY_RUNNER_IMAGE ?? DEFAULT_RUNNER_IMAGE,
      dockerSocket: parsed.ASSAY_DOCKER_SOCKET ?? '/var/run/docker.sock',
    },
    worker: {
      id: parsed.ASSAY_WORKER_ID ?? null,
      gpus: gpus === 'auto' || gpus === 'none' ? gpus : gpus.split(','),
      concurrency: parsed.ASSAY_WORKER_CONCURRENCY ?? 2,
      scoringThreads: parsed.ASSAY_SCORING_THREADS ?? Math.max(1, Math.min(4, availableParallelism())),
      runStaleMs: parsed.ASSAY_RUN_STALE_MS ?? 60_000,
      queueLockMs: parsed.ASSAY_QUEUE_LOCK_MS ?? 30_000,
      drainMs: parsed.ASSAY_WORKER_DRAIN_MS ?? 60_000,
    },
    uploads: { sweepIntervalMs: parsed.ASSAY_UPLOAD_SWEEP_INTERVAL_MS ?? 10 * 60_000, staleAfterMs: parsed.ASSAY_UPLOAD_STALE_AFTER_MS ?? 24 * 3600_000 },
    auth: { tokenDefaultDays, tokenMaxDays, maxFailures: parsed.ASSAY_AUTH_MAX_FAILURES ?? 20, failureWindowS: parsed.ASSAY_AUTH_FAILURE_WINDOW_S ?? 300 },
    federation: {
      leaseMs: parsed.ASSAY_NODE_LEASE_MS ?? 15 * 60_000,
      clockSkewS: parsed.ASSAY_NODE_CLOCK_SKEW_S ?? 120,
      hubUrl: parsed.ASSAY_HUB_URL?.replace(/\/+$/, '') ?? null,
      nodeId: parsed.ASSAY_NODE_ID ?? null,
      keyFile: parsed.ASSAY_NODE_KEY_FILE ?? `${parsed.ASSAY_DATA_DIR ?? '.assay'}/private/node-key.json`,
      policyFile: parsed.ASSAY_NODE_POLICY_FILE ?? `${parsed.ASSAY_DATA_DIR ?? '.assay'}/node-policy.json`,
      heartbeatMs: parsed.ASSAY_NODE_HEARTBEAT_MS ?? 15_000,
    },
    logLevel: (parsed.ASSAY_LOG_LEVEL as AppConfig['logLevel'] | undefined) ?? 'log',
    logFormat: (parsed.ASSAY_LOG_FORMAT as AppConfig['logFormat'] | undefined) ?? (mode === 'production' ? 'json' : 'pretty'),
    metrics: { port: metricsPort, host: metricsHost, token: metricsToken },
  };
}
