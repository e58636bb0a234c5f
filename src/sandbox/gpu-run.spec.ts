import { execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerSandboxAdapter } from './docker-sandbox.adapter';
import { detectGpus } from './gpu-inventory';
import { assertRuntimeAllowed, buildContainerCreateOptions, effectiveRuntime, gpuRunSpec, gpuRunsAllowed, SandboxPolicyError, SandboxSpecError } from './sandbox-profile';
import type { SandboxRunSpec } from './sandbox.types';

const ctx = { runLabel: 'run-1', workerId: 'w-1' };
const base: SandboxRunSpec = {
  image: 'sha256:' + 'a'.repeat(64),
  mounts: [],
  outputDir: '/tmp/out',
  runtime: 'runsc',
  limits: { memoryBytes: 1 << 30, nanoCpus: 1e9, pidsLimit: 256, timeoutMs: 1000, outputBytes: 1 << 20, logBytes: 1 << 16, tmpBytes: 1 << 20 },
};

describe('GPU run shape', () => {
  it('requests exactly one NVIDIA device with the gpu capability and forces runc', () => {
    const o = buildContainerCreateOptions(gpuRunSpec(base, '3'), ctx);
    expect(o.HostConfig?.DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['3'], Capabilities: [['gpu']] }]);
    expect(o.HostConfig?.DeviceRequests?.[0]?.DeviceIDs).toHaveLength(1);
    expect(o.HostConfig?.Runtime).toBe('runc');
    // The rest of the hardening is unchanged for GPU runs.
    expect(o.HostConfig).toMatchObject({ NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'] });
  });

  it('forces runc even when a spec with gpus asks for runsc', () => {
    const o = buildContainerCreateOptions({ ...base, gpus: { deviceIds: ['GPU-1'] } }, ctx);
    expect(o.HostConfig?.Runtime).toBe('runc');
  });

  it('keeps runsc and requests no device for a CPU run', () => {
    const o = buildContainerCreateOptions(base, ctx);
    expect(o.HostConfig?.Runtime).toBe('runsc');
    expect(o.HostConfig?.DeviceRequests).toBeUndefined();
  });

  it('refuses a device id that is not a single index or UUID', () => {
    expect(() => gpuRunSpec(base, '0,1')).toThrow(SandboxSpecError);
    expect(() => gpuRunSpec(base, '../x')).toThrow(SandboxSpecError);
  });

  // `runsc flags` lists every top-level flag (136 lines for 20221219); nvproxy is not among them.
  it("documents why: this host's runsc has no nvproxy flag", () => {
    let flags = '';
    try {
      flags = execFileSync('runsc', ['flags'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // runsc may exit non-zero after printing; a host without runsc has nothing to check.
      flags = String((err as { stdout?: string }).stdout ?? '');
    }
    if (flags) {
      expect(flags).toMatch(/-network/);
      expect(flags).not.toMatch(/nvproxy/);
    }
  });
});

describe('vendor user in the profile', () => {
  it('runs as the given numeric non-root user and working dir', () => {
    const o = buildContainerCreateOptions({ ...base, user: { uid: 10001, gid: 10002 }, workingDir: '/app' }, ctx);
    expect(o.User).toBe('10001:10002');
    expect(o.WorkingDir).toBe('/app');
  });

  it.each([
    [{ uid: 0, gid: 10 }],
    [{ uid: 10, gid: 0 }],
    [{ uid: -1, gid: 10 }],
    [{ uid: 1.5, gid: 10 }],
  ])('refuses %p', (user) => {
    expect(() => buildContainerCreateOptions({ ...base, user }, ctx)).toThrow(SandboxSpecError);
  });

  it('defaults to 65534:65534 and /tmp', () => {
    const o = buildContainerCreateOptions(base, ctx);
    expect(o.User).toBe('65534:65534');
    expect(o.WorkingDir).toBe('/tmp');
  });
});

describe('one weak-sandbox policy for every run, GPU runs included', () => {
  const production = { mode: 'production' as const, allowWeakProfile: false };
  const overridden = { mode: 'production' as const, allowWeakProfile: true };
  const development = { mode: 'development' as const, allowWeakProfile: false };

  it('refuses runc in production without ASSAY_ALLOW_WEAK_SANDBOX, allows runsc always', () => {
    expect(() => assertRuntimeAllowed('runc', production)).toThrow(SandboxPolicyError);
    expect(() => assertRuntimeAllowed('runc', production)).toThrow(/production mode requires the gVisor \(runsc\) sandbox; set ASSAY_ALLOW_WEAK_SANDBOX=true/);
    expect(() => assertRuntimeAllowed('runsc', production)).not.toThrow();
    expect(() => assertRuntimeAllowed('runc', overridden)).not.toThrow();
    expect(() => assertRuntimeAllowed('runc', development)).not.toThrow();
    expect(() => assertRuntimeAllowed('runc', { mode: 'test', allowWeakProfile: false })).not.toThrow();
  });

  it('judges the runtime a GPU run really gets (runc), not the runsc it asked for', () => {
    const gpu = gpuRunSpec(base, '0');
    expect(effectiveRuntime(gpu)).toBe('runc');
    expect(effectiveRuntime({ ...base, gpus: { deviceIds: ['0'] } })).toBe('runc');
    expect(() => assertRuntimeAllowed(effectiveRuntime({ ...base, gpus: { deviceIds: ['0'] } }), production)).toThrow(SandboxPolicyError);
    expect(gpuRunsAllowed(production)).toBe(false);
    expect(gpuRunsAllowed(overridden)).toBe(true);
  });

  it('the adapter refuses a GPU run in production before touching Docker or the output dir', async () => {
    const outputDir = join(tmpdir(), `assay-policy-${process.pid}-${Date.now()}`);
    const adapter = new DockerSandboxAdapter({ socketPath: '/nonexistent/docker.sock', workerId: 'w-1', outputCapMode: 'poll', policy: production });
    await expect(adapter.run({ ...gpuRunSpec(base, '0'), outputDir })).rejects.toThrow(SandboxPolicyError);
    await expect(adapter.run({ ...base, runtime: 'runc', outputDir })).rejects.toThrow(/refusing a sandbox run under runc/);
    await expect(stat(outputDir)).rejects.toThrow(/ENOENT/);
  });

  it('a worker that may not run runc offers no GPU, whatever it has', async () => {
    const r = await detectGpus(['0', '1'], production);
    expect(r.devices).toEqual([]);
    expect(r.note).toMatch(/GPU runs use runc, which production mode refuses without ASSAY_ALLOW_WEAK_SANDBOX=true/);
    expect((await detectGpus(['0', '1'], overridden)).devices.map((d) => d.id)).toEqual(['0', '1']);
  });
});
