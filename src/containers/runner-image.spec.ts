import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import { recordFileName, resolveRunnerImage } from './runner-image';

const BUILT = `sha256:${'1'.repeat(64)}`;
const FORGED = `sha256:${'f'.repeat(64)}`;
const TAG = 'assay/onnx-runner:9.9.9-test';

/** A fake engine holding images by ID and tags pointing at them. */
function engine(tags: Record<string, string>, ids: string[]): Pick<DockerSandboxAdapter, 'inspectImage'> {
  return {
    inspectImage: async (ref: string) => {
      const id = ids.includes(ref) ? ref : tags[ref];
      return id ? { id, repoTags: [], repoDigests: [], labels: { 'org.assay.version': 'forgeable' }, sizeBytes: 1, created: '', user: '', workingDir: '' } : null;
    },
  };
}

describe('resolveRunnerImage', () => {
  let dataDir: string;
  const log = { warn: jest.fn(), error: jest.fn() };
  const config = (mode: 'production' | 'test', runnerImage = TAG) => ({ dataDir, mode, sandbox: { runnerImage } });
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'assay-runner-'));
    log.warn.mockReset();
    log.error.mockReset();
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const record = (id: string, tag = TAG): void => {
    mkdirSync(join(dataDir, 'images'), { recursive: true });
    writeFileSync(join(dataDir, 'images', recordFileName(tag)), JSON.stringify({ tag, id, version: 'v' }));
  };

  it('uses the ID build-images.sh recorded, even when the tag was moved to another image', async () => {
    record(BUILT);
    const r = await resolveRunnerImage(engine({ [TAG]: FORGED }, [BUILT, FORGED]), config('production'), log);
    expect(r).toMatchObject({ id: BUILT, source: 'build-record' });
    expect(log.error).toHaveBeenCalledWith(expect.stringContaining(`points at ${FORGED}`));
  });

  it('refuses to start in production without a record, whatever the tag and its labels say', async () => {
    await expect(resolveRunnerImage(engine({ [TAG]: FORGED }, [FORGED]), config('production'), log)).rejects.toThrow(/no build record for runner image/);
  });

  it('falls back to the tag outside production, with a warning', async () => {
    await expect(resolveRunnerImage(engine({ [TAG]: BUILT }, [BUILT]), config('test'), log)).resolves.toMatchObject({ id: BUILT, source: 'tag' });
    expect(log.warn).toHaveBeenCalled();
  });

  it('takes an image ID from the config as the pin', async () => {
    await expect(resolveRunnerImage(engine({}, [BUILT]), config('production', BUILT), log)).resolves.toEqual({ id: BUILT, source: 'config-id' });
    await expect(resolveRunnerImage(engine({}, []), config('production', BUILT), log)).rejects.toThrow(/not in the Docker engine/);
  });

  it('fails clearly when the recorded image is gone', async () => {
    record(BUILT);
    await expect(resolveRunnerImage(engine({ [TAG]: FORGED }, [FORGED]), config('production'), log)).rejects.toThrow(/is gone from the engine/);
  });

  it('ignores a record written for another tag', async () => {
    mkdirSync(join(dataDir, 'images'), { recursive: true });
    writeFileSync(join(dataDir, 'images', recordFileName(TAG)), JSON.stringify({ tag: 'other:1', id: BUILT }));
    await expect(resolveRunnerImage(engine({ [TAG]: FORGED }, [FORGED, BUILT]), config('production'), log)).rejects.toThrow(/no build record/);
  });
});
