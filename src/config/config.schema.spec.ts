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

describe('production mode', () => {
  it.each([
    [{}, /ASSAY_S3_ACCESS_KEY: the default 'S3RVER'.*\n.*ASSAY_S3_SECRET_KEY: the default 'S3RVER'/],
    [{ ASSAY_S3_ACCESS_KEY: 'minioadmin', ASSAY_S3_SECRET_KEY: 'minioadmin' }, /ASSAY_S3_ACCESS_KEY: the default 'minioadmin'/],
    [{ ASSAY_S3_ACCESS_KEY: 'assay', ASSAY_S3_SECRET_KEY: 'S3RVER' }, /ASSAY_S3_SECRET_KEY: the default 'S3RVER'/],
  ])('refuses default object-store credentials %p', (env, message) => {
    expect(() => loadConfig({ ASSAY_MODE: 'production', ...env })).toThrow(message);
  });

  it('accepts chosen credentials, and development keeps the embedded defaults', () => {
    expect(loadConfig({ ASSAY_MODE: 'production', ASSAY_S3_ACCESS_KEY: 'assay', ASSAY_S3_SECRET_KEY: 'a-long-secret' }).storage.accessKey).toBe('assay');
    expect(loadConfig({ ASSAY_MODE: 'development' }).storage.secretKey).toBe('S3RVER');
  });

  it('keeps the report signing keys under the data directory unless ASSAY_REPORT_KEY_DIR names another place', () => {
    expect(loadConfig({}).reports.keyDir).toBe('.assay/private/report-keys');
    expect(loadConfig({ ASSAY_DATA_DIR: '/srv/assay' }).reports.keyDir).toBe('/srv/assay/private/report-keys');
    expect(loadConfig({ ASSAY_DATA_DIR: '/srv/assay', ASSAY_REPORT_KEY_DIR: '/run/secrets/assay-keys' }).reports.keyDir).toBe('/run/secrets/assay-keys');
  });

  it("prints report PDFs with Debian's chromium unless ASSAY_CHROMIUM names another", () => {
    expect(loadConfig({}).reports.chromiumPath).toBe('/usr/bin/chromium');
    expect(loadConfig({ ASSAY_CHROMIUM: '/opt/chromium/chrome' }).reports.chromiumPath).toBe('/opt/chromium/chrome');
  });

  it('token lifetimes: defaults, and a default above the maximum is refused', () => {
    expect(loadConfig({}).auth).toEqual({ tokenDefaultDays: 30, tokenMaxDays: 365, maxFailures: 20, failureWindowS: 300 });
    expect(() => loadConfig({ ASSAY_TOKEN_DEFAULT_DAYS: '90', ASSAY_TOKEN_MAX_DAYS: '30' })).toThrow(/ASSAY_TOKEN_DEFAULT_DAYS: 90 exceeds ASSAY_TOKEN_MAX_DAYS \(30\)/);
  });
  it('takes ASSAY_TRUST_PROXY as a named range, a hop count or addresses, and refuses "true" and garbage', () => {
    expect(loadConfig({}).http.trustProxy).toBe(false);
    expect(loadConfig({ ASSAY_TRUST_PROXY: 'loopback' }).http.trustProxy).toBe('loopback');
    expect(loadConfig({ ASSAY_TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ ASSAY_TRUST_PROXY: '10.0.0.1, 192.0.2.0/24' }).http.trustProxy).toBe('10.0.0.1, 192.0.2.0/24');
    for (const bad of ['true', 'anything', '0', '10']) expect(() => loadConfig({ ASSAY_TRUST_PROXY: bad })).toThrow(/ASSAY_TRUST_PROXY must be/);
  });
});

describe('metrics and log format', () => {
  it('has no metrics listener unless ASSAY_METRICS_PORT is set, on loopback by default, without a token', () => {
    expect(loadConfig({}).metrics).toEqual({ port: null, host: '127.0.0.1', token: null });
    expect(loadConfig({ ASSAY_METRICS_PORT: '9464' }).metrics).toEqual({ port: 9464, host: '127.0.0.1', token: null });
    expect(loadConfig({ ASSAY_METRICS_PORT: '0' }).metrics.port).toBe(0);
  });

  it('refuses a bad port, a short or spaced token, and the API port', () => {
    expect(() => loadConfig({ ASSAY_METRICS_PORT: 'ninety' })).toThrow(/ASSAY_METRICS_PORT/);
    expect(() => loadConfig({ ASSAY_METRICS_PORT: '70000' })).toThrow(/ASSAY_METRICS_PORT/);
    expect(() => loadConfig({ ASSAY_METRICS_TOKEN: 'short' })).toThrow(/ASSAY_METRICS_TOKEN: 16-512 printable/);
    expect(() => loadConfig({ ASSAY_METRICS_TOKEN: 'has a space in it, sixteen+' })).toThrow(/ASSAY_METRICS_TOKEN/);
    expect(() => loadConfig({ ASSAY_HTTP_PORT: '8080', ASSAY_METRICS_PORT: '8080' })).toThrow(/ASSAY_METRICS_PORT: 8080 is the API's port/);
    expect(() => loadConfig({ ASSAY_METRICS_PORT: '3000' })).toThrow(/is the API's port/);
  });

  it('in production, refuses a metrics listener off loopback without a token', () => {
    const prod = { ASSAY_MODE: 'production', ASSAY_S3_ACCESS_KEY: 'assay', ASSAY_S3_SECRET_KEY: 'a-long-secret' };
    expect(() => loadConfig({ ...prod, ASSAY_METRICS_PORT: '9464', ASSAY_METRICS_HOST: '0.0.0.0' })).toThrow(/ASSAY_METRICS_TOKEN: required in production when ASSAY_METRICS_HOST \(0\.0\.0\.0\)/);
    expect(loadConfig({ ...prod, ASSAY_METRICS_PORT: '9464', ASSAY_METRICS_HOST: '0.0.0.0', ASSAY_METRICS_TOKEN: 'scrape-token-0123456789' }).metrics.token).toBe('scrape-token-0123456789');
    expect(loadConfig({ ...prod, ASSAY_METRICS_PORT: '9464' }).metrics.host).toBe('127.0.0.1');
    // Development keeps it simple: no token needed anywhere.
    expect(loadConfig({ ASSAY_METRICS_PORT: '9464', ASSAY_METRICS_HOST: '0.0.0.0' }).metrics.token).toBeNull();
  });

  it('logs JSON in production and readable lines otherwise, unless ASSAY_LOG_FORMAT says', () => {
    expect(loadConfig({ ASSAY_MODE: 'production', ASSAY_S3_ACCESS_KEY: 'assay', ASSAY_S3_SECRET_KEY: 'a-long-secret' }).logFormat).toBe('json');
    expect(loadConfig({}).logFormat).toBe('pretty');
    expect(loadConfig({ ASSAY_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadConfig({ ASSAY_LOG_FORMAT: 'xml' })).toThrow(/ASSAY_LOG_FORMAT/);
  });
});
