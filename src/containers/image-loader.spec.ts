import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { appLayer, dockerSave } from '../../test/fixtures/images/tar-writer';
import type { DockerSandboxAdapter } from '../sandbox/docker-sandbox.adapter';
import type { ImageIntakeLimits } from './image-intake';
import { admitImageTarball } from './image-loader';

const LIMITS: ImageIntakeLimits = { maxUnpackedBytes: 8 << 20, maxLayerCompressionRatio: 50, expectedArchitecture: 'amd64', bombFloorBytes: 1 << 20 };

/** An engine that refuses every load with `error` (only what admitImageTarball asks of the adapter). */
function refusingEngine(error: Error): DockerSandboxAdapter {
  return {
    isImageLoaded: async () => false,
    // Like dockerd: reads the archive, then refuses it.
    loadImage: async (source: Readable) => {
      for await (const chunk of source) void chunk;
      throw error;
    },
  } as unknown as DockerSandboxAdapter;
}

describe('admitImageTarball when docker load fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-loader-'));
  const path = join(dir, 'image.tar');
  writeFileSync(path, dockerSave({ layers: [appLayer()] }).archive);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("files an engine's refusal of the vendor's archive as the vendor's (load_failed), not internal", async () => {
    const refusal = new Error('docker load failed: failed to register layer: lsetxattr user.x /app/link: operation not supported');
    await expect(admitImageTarball(refusingEngine(refusal), path, LIMITS)).resolves.toMatchObject({ ok: false, code: 'load_failed', message: expect.stringMatching(/lsetxattr/) });
  });

  it('throws (Assay fault, retried) when the engine or the host failed', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
    await expect(admitImageTarball(refusingEngine(down), path, LIMITS)).rejects.toThrow(/ECONNREFUSED/);
    await expect(admitImageTarball(refusingEngine(new Error('write /var/lib/docker/tmp: no space left on device')), path, LIMITS)).rejects.toThrow(/no space left/);
  });
});
