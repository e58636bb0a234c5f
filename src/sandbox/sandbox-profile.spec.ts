import { buildContainerCreateOptions, RECOMMENDED_PIDS_LIMIT, SandboxSpecError } from './sandbox-profile';
import type { SandboxRunSpec } from './sandbox.types';

function makeSpec(overrides: Partial<SandboxRunSpec> = {}): SandboxRunSpec {
  return {
    image: 'assay/onnx-runner:1.0.0',
    cmd: ['node', '/opt/runner/runner.js', 'predict'],
    env: { ASSAY_GPU: '0' },
    mounts: [
      { hostPath: '/var/lib/assay/runs/r1/input', containerPath: '/input', readOnly: true },
      { hostPath: '/var/lib/assay/models/m1', containerPath: '/model', readOnly: true },
    ],
    outputDir: '/var/lib/assay/runs/r1/output',
    limits: {
      memoryBytes: 1 << 30,
      nanoCpus: 2e9,
      pidsLimit: RECOMMENDED_PIDS_LIMIT.runsc,
      timeoutMs: 60_000,
      outputBytes: 64 << 20,
      logBytes: 1 << 20,
      tmpBytes: 64 << 20,
    },
    runtime: 'runsc',
    ...overrides,
  };
}

const ctx = { runLabel: 'run-1', workerId: 'worker-a' };

describe('buildContainerCreateOptions', () => {
  it('applies every hardening option when given a CPU runsc spec', () => {
    const o = buildContainerCreateOptions(makeSpec(), ctx);
    expect(o.User).toBe('65534:65534');
    expect(o.NetworkDisabled).toBe(true);
    expect(o.Env).toEqual(['ASSAY_GPU=0']);
    expect(o.HostConfig).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      PidsLimit: 256,
      Memory: 1 << 30,
      MemorySwap: 1 << 30,
      NanoCpus: 2e9,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${64 << 20}` },
      LogConfig: { Type: 'none', Config: {} },
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
      AutoRemove: false,
    });
    expect(o.HostConfig?.SecurityOpt).not.toContainEqual(expect.stringContaining('seccomp'));
    expect(o.HostConfig?.DeviceRequests).toBeUndefined();
    expect(o.HostConfig?.CapAdd).toBeUndefined();
  });

  it('mounts inputs read-only and the output dir read-write at /output', () => {
    const o = buildContainerCreateOptions(makeSpec(), ctx);
    expect(o.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/var/lib/assay/runs/r1/input', Target: '/input', ReadOnly: true },
      { Type: 'bind', Source: '/var/lib/assay/models/m1', Target: '/model', ReadOnly: true },
      { Type: 'bind', Source: '/var/lib/assay/runs/r1/output', Target: '/output', ReadOnly: false },
    ]);
    expect(o.HostConfig?.Binds).toBeUndefined();
  });

  it('selects runc when the spec asks for it and keeps the rest of the profile', () => {
    const o = buildContainerCreateOptions(
      makeSpec({ runtime: 'runc', limits: { ...makeSpec().limits, pidsLimit: RECOMMENDED_PIDS_LIMIT.runc } }),
      ctx,
    );
    expect(o.HostConfig?.Runtime).toBe('runc');
    expect(o.HostConfig?.PidsLimit).toBe(128);
    expect(o.HostConfig?.NetworkMode).toBe('none');
    expect(o.HostConfig?.ReadonlyRootfs).toBe(true);
  });

  it('requests the named NVIDIA devices when the spec has gpus', () => {
    const o = buildContainerCreateOptions(makeSpec({ gpus: { deviceIds: ['0', 'GPU-abc'] } }), ctx);
    expect(o.HostConfig?.DeviceRequests).toEqual([
      { Driver: 'nvidia', DeviceIDs: ['0', 'GPU-abc'], Capabilities: [['gpu']] },
    ]);
    expect(o.HostConfig?.Privileged).toBe(false);
  });

  it('labels the container so that caller labels cannot override the reaper labels', () => {
    const o = buildContainerCreateOptions(
      makeSpec({ labels: { 'org.assay.worker': 'someone-else', 'org.assay.sandbox': '0', team: 'x' } }),
      ctx,
    );
    expect(o.Labels).toEqual({
      team: 'x',
      'org.assay.sandbox': '1',
      'org.assay.run': 'run-1',
      'org.assay.worker': 'worker-a',
    });
  });

  it('omits Cmd when the spec has none so the image default applies', () => {
    const o = buildContainerCreateOptions(makeSpec({ cmd: undefined }), ctx);
    expect(o).not.toHaveProperty('Cmd');
  });

  it.each([
    ['a relative output dir', { outputDir: 'out' }],
    ['a mount over /output', { mounts: [{ hostPath: '/x', containerPath: '/output', readOnly: true }] }],
    ['a mount under /proc', { mounts: [{ hostPath: '/x', containerPath: '/proc/x', readOnly: true }] }],
    ['a mount over the root', { mounts: [{ hostPath: '/x', containerPath: '/', readOnly: true }] }],
    ['a relative mount source', { mounts: [{ hostPath: 'x', containerPath: '/input', readOnly: true }] }],
    ['an empty GPU list', { gpus: { deviceIds: [] } }],
    ['a bad env name', { env: { 'A=B': 'c' } }],
    ['a zero memory limit', { limits: { ...makeSpec().limits, memoryBytes: 0 } }],
    ['a fractional pids limit', { limits: { ...makeSpec().limits, pidsLimit: 1.5 } }],
  ])('rejects %s', (_name, overrides) => {
    expect(() => buildContainerCreateOptions(makeSpec(overrides as Partial<SandboxRunSpec>), ctx)).toThrow(SandboxSpecError);
  });
});
