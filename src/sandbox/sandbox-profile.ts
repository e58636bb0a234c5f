import type { ContainerCreateOptions } from 'dockerode';
import { posix } from 'node:path';
import type { SandboxRunSpec } from './sandbox.types';

// Pure translation of a run spec into Docker's create options: the hardening of DESIGN.md lives here, in one
// place that unit tests read back, so a change to the sandbox is a visible diff.

export const SANDBOX_USER = '65534:65534';
export const OUTPUT_MOUNT = '/output';
export const LABEL_SANDBOX = 'org.assay.sandbox';
export const LABEL_RUN = 'org.assay.run';
export const LABEL_WORKER = 'org.assay.worker';

/**
 * Pids limits that work for node + onnxruntime. Under runsc the cgroup counts gVisor's sentry and gofer threads
 * (dozens before the algorithm starts a thread of its own), so a limit sized for the workload alone makes
 * thread or process creation fail; runc counts only the workload.
 */
export const RECOMMENDED_PIDS_LIMIT = { runsc: 256, runc: 128 } as const;

export class SandboxSpecError extends Error {
  readonly code = 'sandbox_spec_invalid';
}

export interface SandboxProfileContext {
  /** Value of org.assay.run: ties the container to a run for logs and orphan reaping. */
  runLabel: string;
  workerId: string;
}

const RESERVED_PATHS = ['/', OUTPUT_MOUNT, '/tmp', '/proc', '/sys', '/dev'];
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new SandboxSpecError(`${name} must be a positive integer, got ${value}`);
  }
}

export function validateRunSpec(spec: SandboxRunSpec): void {
  if (!spec.image) throw new SandboxSpecError('image is required');
  const l = spec.limits;
  assertPositiveInteger('limits.memoryBytes', l.memoryBytes);
  assertPositiveInteger('limits.nanoCpus', l.nanoCpus);
  assertPositiveInteger('limits.pidsLimit', l.pidsLimit);
  assertPositiveInteger('limits.timeoutMs', l.timeoutMs);
  assertPositiveInteger('limits.outputBytes', l.outputBytes);
  assertPositiveInteger('limits.logBytes', l.logBytes);
  assertPositiveInteger('limits.tmpBytes', l.tmpBytes);
  if (!posix.isAbsolute(spec.outputDir)) throw new SandboxSpecError('outputDir must be an absolute host path');
  const seen = new Set<string>();
  for (const m of spec.mounts) {
    if (!posix.isAbsolute(m.hostPath)) throw new SandboxSpecError(`mount source must be absolute: ${m.hostPath}`);
    const target = posix.normalize(m.containerPath);
    if (!posix.isAbsolute(target)) throw new SandboxSpecError(`mount target must be absolute: ${m.containerPath}`);
    if (RESERVED_PATHS.some((p) => target === p || (p !== '/' && target.startsWith(`${p}/`)))) {
      throw new SandboxSpecError(`mount target is reserved: ${m.containerPath}`);
    }
    if (seen.has(target)) throw new SandboxSpecError(`mount target used twice: ${m.containerPath}`);
    seen.add(target);
  }
  for (const key of Object.keys(spec.env ?? {})) {
    if (!ENV_KEY.test(key)) throw new SandboxSpecError(`invalid environment variable name: ${key}`);
  }
  if (spec.gpus && spec.gpus.deviceIds.length === 0) {
    throw new SandboxSpecError('gpus.deviceIds must name at least one device; leave gpus out for a CPU run');
  }
  if (spec.user) {
    const { uid, gid } = spec.user;
    // Never root, never the root group, whatever the image declared.
    if (!Number.isSafeInteger(uid) || uid <= 0 || !Number.isSafeInteger(gid) || gid <= 0) {
      throw new SandboxSpecError(`user must be a non-root numeric uid:gid, got ${uid}:${gid}`);
    }
  }
  if (spec.workingDir !== undefined && !posix.isAbsolute(spec.workingDir)) {
    throw new SandboxSpecError(`workingDir must be absolute: ${spec.workingDir}`);
  }
}

/**
 * Shapes a GPU run: exactly one device, and runc, since Debian's runsc lacks nvproxy (`runsc --help` lists no
 * nvproxy flag for 20221219). The caller must still have the operator's leave to run weaker isolation for GPUs.
 */
export function gpuRunSpec(spec: SandboxRunSpec, deviceId: string): SandboxRunSpec {
  if (!/^[A-Za-z0-9-]+$/.test(deviceId)) throw new SandboxSpecError(`invalid GPU device id: ${deviceId}`);
  return { ...spec, runtime: 'runc', gpus: { deviceIds: [deviceId] } };
}

/** Whether this facility may run a sandbox weaker than gVisor (runc): the operator's standing decision. */
export interface SandboxPolicy {
  mode: 'development' | 'production' | 'test';
  /** ASSAY_ALLOW_WEAK_SANDBOX: production's explicit, logged leave to run runc. */
  allowWeakProfile: boolean;
}

export class SandboxPolicyError extends Error {
  readonly code = 'sandbox_policy_refused';
}

/** Outside production runc is allowed (with a warning); in production only with ASSAY_ALLOW_WEAK_SANDBOX. */
export function weakSandboxAllowed(policy: SandboxPolicy): boolean {
  return policy.mode !== 'production' || policy.allowWeakProfile;
}

/**
 * The one rule for every run, CPU or GPU, ONNX runner or vendor image: the runtime the run really gets (runc
 * for a GPU, see effectiveRuntime) must be one the policy allows. Checked at startup and again on every run.
 */
export function assertRuntimeAllowed(runtime: SandboxRunSpec['runtime'], policy: SandboxPolicy, what = 'a sandbox run'): void {
  if (runtime === 'runsc' || weakSandboxAllowed(policy)) return;
  throw new SandboxPolicyError(
    `refusing ${what} under runc: production mode requires the gVisor (runsc) sandbox; set ASSAY_ALLOW_WEAK_SANDBOX=true to override (logged)`,
  );
}

/** Whether this worker may serve GPU runs at all: they always get runc (no nvproxy in this runsc). */
export function gpuRunsAllowed(policy: SandboxPolicy): boolean {
  return weakSandboxAllowed(policy);
}

/** The runtime a spec really gets: runc whenever GPUs are requested (no nvproxy in this runsc). */
export function effectiveRuntime(spec: SandboxRunSpec): SandboxRunSpec['runtime'] {
  return spec.gpus ? 'runc' : spec.runtime;
}

export function userOf(spec: SandboxRunSpec): string {
  return spec.user ? `${spec.user.uid}:${spec.user.gid}` : SANDBOX_USER;
}

export function buildContainerCreateOptions(spec: SandboxRunSpec, ctx: SandboxProfileContext): ContainerCreateOptions {
  validateRunSpec(spec);
  const l = spec.limits;
  return {
    Image: spec.image,
    ...(spec.cmd ? { Cmd: spec.cmd } : {}),
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    User: userOf(spec),
    WorkingDir: spec.workingDir ?? '/tmp',
    Labels: {
      ...spec.labels,
      // Set last: a caller's labels cannot hide a container from the reaper.
      [LABEL_SANDBOX]: '1',
      [LABEL_RUN]: ctx.runLabel,
      [LABEL_WORKER]: ctx.workerId,
    },
    NetworkDisabled: true,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      // Forced to runc for GPU runs: Debian 12's gVisor (20221219) has no nvproxy, a GPU cannot reach runsc.
      Runtime: effectiveRuntime(spec),
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      // The default seccomp profile stays on: only no-new-privileges is added.
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      PidsLimit: l.pidsLimit,
      Memory: l.memoryBytes,
      // Equal to Memory: no swap beyond the memory limit.
      MemorySwap: l.memoryBytes,
      NanoCpus: l.nanoCpus,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${l.tmpBytes}` },
      // /dev/shm is the other writable scratch (Docker mounts it noexec,nosuid,nodev): same size as /tmp, not 64 MiB.
      ShmSize: l.tmpBytes,
      Mounts: [
        ...spec.mounts.map((m) => ({
          Type: 'bind' as const,
          Source: m.hostPath,
          Target: posix.normalize(m.containerPath),
          ReadOnly: m.readOnly,
        })),
        { Type: 'bind' as const, Source: spec.outputDir, Target: OUTPUT_MOUNT, ReadOnly: false },
      ],
      // Logs are read from the attach stream with a cap; a log driver would copy them to disk uncapped.
      LogConfig: { Type: 'none', Config: {} },
      // A crashing algorithm must not write core files into /tmp or /output.
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
      // Under host memory pressure, kill a sandbox before the worker or the database.
      OomScoreAdj: 500,
      AutoRemove: false,
      ...(spec.gpus
        ? { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: spec.gpus.deviceIds, Capabilities: [['gpu']] }] }
        : {}),
    },
  };
}
