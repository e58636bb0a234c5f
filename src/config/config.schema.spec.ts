import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigValidationError, DEFAULT_RUNNER_IMAGE, loadConfig } from './config.schema';

describe('loadConfig', () => {
  it('returns embedded defaults when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.storage.endpoint).toBeNull();
    expect(config.http.port).toBe(3000);
    expect(config.worker.gpus).toBe('auto');
  });

  it('parses numbers, booleans and GPU lists', () => {
    const config = loadConfig({ ASSAY_HTTP_PORT: '8080', ASSAY_ALLOW_WEAK_SANDBOX: 'true', ASSAY_WORKER_GPUS: '0,2' });
    expect(config.http.port).toBe(8080);
    expect(config.sandbox.allowWeakProfile).toBe(true);
    expect(config.worker.gpus).toEqual(['0', '2']);
  });

  it('lists every problem when several variables are wrong', () => {
    try {
      loadConfig({ ASSAY_HTTP_PORT: 'eighty', DATABASE_URL: 'mysql://x', ASSAY_WORKER_GPUS: 'some' });
      throw new Error('expected a ConfigValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      const problems = (error as ConfigValidationError).problems.join('\n');
      expect(problems).toMatch(/ASSAY_HTTP_PORT/);
      expect(problems).toMatch(/DATABASE_URL/);
      expect(problems).toMatch(/ASSAY_WORKER_GPUS/);
    }
  });
});

describe('DEFAULT_RUNNER_IMAGE', () => {
  it('names the version that scripts/build-images.sh builds', () => {
    const version = readFileSync(join(__dirname, '../../sandbox-images/onnx-runner/VERSION'), 'utf8').trim();
    expect(DEFAULT_RUNNER_IMAGE).toBe(`assay/onnx-runner:${version}`);
  });
});
