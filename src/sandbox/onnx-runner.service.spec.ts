import { loadConfig } from '../config/config.schema';
import type { DockerSandboxAdapter } from './docker-sandbox.adapter';
import { OnnxRunnerService } from './onnx-runner.service';

/** Production mode refuses the default object-store credentials (config.schema.ts). */
const PROD_S3 = { ASSAY_S3_ACCESS_KEY: 'runner-spec', ASSAY_S3_SECRET_KEY: 'runner-spec-secret' };
const RUNNER_ID = `sha256:${'ab'.repeat(32)}`;
// Pinned by ID: production refuses a tag-only runner, and a build record on this machine must not leak in
// (src/containers/runner-image.spec.ts covers records and tags).
const PINNED = { ASSAY_RUNNER_IMAGE: RUNNER_ID };

/** A fake engine: only what resolveRuntime asks of the adapter. */
function engine(hasRunsc: boolean): DockerSandboxAdapter {
  return {
    info: async () => ({ serverVersion: 'x', runtimes: hasRunsc ? ['runc', 'runsc'] : ['runc'], defaultRuntime: 'runc', hasRunsc, cgroupVersion: '2', cpus: 2, memoryBytes: 1 }),
    inspectImage: async () => ({ id: RUNNER_ID, repoTags: [], repoDigests: [], labels: {}, sizeBytes: 1, created: '' }),
  } as unknown as DockerSandboxAdapter;
}

describe('OnnxRunnerService.resolveRuntime', () => {
  it('uses gVisor when the engine has it', async () => {
    await expect(new OnnxRunnerService(loadConfig({ ASSAY_MODE: 'production', ...PROD_S3, ...PINNED }), engine(true)).resolveRuntime()).resolves.toEqual({ runtime: 'runsc', imageId: RUNNER_ID });
  });

  it('refuses a weaker profile (runc) in production', async () => {
    await expect(new OnnxRunnerService(loadConfig({ ASSAY_MODE: 'production', ...PROD_S3, ...PINNED }), engine(false)).resolveRuntime()).rejects.toThrow(/production mode requires the gVisor \(runsc\) sandbox; set ASSAY_ALLOW_WEAK_SANDBOX=true/);
    await expect(new OnnxRunnerService(loadConfig({ ASSAY_MODE: 'production', ...PROD_S3, ASSAY_SANDBOX_RUNTIME: 'runc', ...PINNED }), engine(true)).resolveRuntime()).rejects.toThrow(/production mode requires/);
  });

  it('accepts runc in production only with the explicit override, and in development', async () => {
    await expect(new OnnxRunnerService(loadConfig({ ASSAY_MODE: 'production', ...PROD_S3, ASSAY_ALLOW_WEAK_SANDBOX: 'true', ...PINNED }), engine(false)).resolveRuntime()).resolves.toMatchObject({ runtime: 'runc' });
    await expect(new OnnxRunnerService(loadConfig({ ...PINNED }), engine(false)).resolveRuntime()).resolves.toMatchObject({ runtime: 'runc' });
  });

  it('fails clearly when runsc is demanded but missing', async () => {
    await expect(new OnnxRunnerService(loadConfig({ ASSAY_SANDBOX_RUNTIME: 'runsc' }), engine(false)).resolveRuntime()).rejects.toThrow(/no runsc runtime/);
  });
});
