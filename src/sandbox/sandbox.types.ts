// The contract between the worker and the sandbox adapter. Units are in the names: bytes, nano-CPUs
// (1e9 = one CPU), milliseconds.

export interface SandboxLimits {
  /** Memory limit in bytes; swap is set equal, so the sandbox gets no swap on top. */
  memoryBytes: number;
  /** CPU limit in billionths of a CPU (2e9 = two CPUs). */
  nanoCpus: number;
  /** Max tasks in the container's cgroup. Under runsc gVisor's own threads count too (see sandbox-profile.ts). */
  pidsLimit: number;
  /** Wall-clock limit from start to exit; the container is killed when it passes. */
  timeoutMs: number;
  /** Cap on everything written under /output. */
  outputBytes: number;
  /** Cap on the combined stdout+stderr kept in the result. */
  logBytes: number;
  /** Size of the in-memory /tmp (counts against memoryBytes). */
  tmpBytes: number;
}

export interface SandboxMount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export type SandboxRuntime = 'runsc' | 'runc';

export interface SandboxRunSpec {
  image: string;
  cmd?: string[];
  env?: Record<string, string>;
  mounts: SandboxMount[];
  /** Host dir mounted read-write at /output; prepared and capped by the adapter. */
  outputDir: string;
  limits: SandboxLimits;
  runtime: SandboxRuntime;
  gpus?: { deviceIds: string[] };
  labels?: Record<string, string>;
  /** Numeric non-root identity to run as (a vendor image's own USER, resolved at intake). Default 65534:65534. */
  user?: { uid: number; gid: number };
  /** Working directory; default /tmp. Vendor images keep their own WORKDIR. */
  workingDir?: string;
  /**
   * Aborted when the work this container does is no longer wanted (a node's job cancelled at the hub, its lease
   * lost): the container is killed at once and the run throws SandboxAbortedError, nothing of its output is read.
   */
  signal?: AbortSignal;
}

/** The caller's signal stopped the container (the work was abandoned); not a verdict on the vendor's algorithm. */
export class SandboxAbortedError extends Error {
  override readonly name = 'SandboxAbortedError';
}

export interface SandboxTimings {
  /** Output dir preparation (tmpfs mount), container create and attach. */
  createMs: number;
  startMs: number;
  /** From start until the container exited (or was killed). */
  waitMs: number;
  /** Inspect and remove. */
  removeMs: number;
  totalMs: number;
}

export interface SandboxResult {
  /** null when the container never produced an exit code (e.g. it could not be started). */
  exitCode: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  outputExceeded: boolean;
  /** Combined stdout/stderr as written (any bytes), at most limits.logBytes (head and tail kept when truncated). */
  logBytes: Buffer;
  /** The same, escaped (escapeLogBytes in capped-log.ts): no NUL, no invalid UTF-8; for details and tests. */
  logs: string;
  logsTruncated: boolean;
  /**
   * Why the released /output was refused (a link, FIFO, socket, device or hard link; too deep; apparent size past
   * the cap), worded for the vendor; null when it was plain. Set by the release (releaseOutputDir), not by run().
   */
  outputRefused: string | null;
  timings: SandboxTimings;
  runtime: string;
}

export interface SandboxEngineInfo {
  serverVersion: string;
  runtimes: string[];
  defaultRuntime: string;
  hasRunsc: boolean;
  cgroupVersion: string;
  cpus: number;
  memoryBytes: number;
}

export interface SandboxImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  labels: Record<string, string>;
  sizeBytes: number;
  created: string;
  /** Config.User as the image declares it ('' = root). */
  user: string;
  /** Config.WorkingDir ('' = /). */
  workingDir: string;
}
