import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from './config.schema';
import { getMetadataStorage } from 'class-validator';

const ROOT = join(__dirname, '../..');

interface ComposeService {
  command?: string[];
  ports?: string[];
  expose?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}

/** docker-compose.yml cannot run on a registry-less host; this checks that it parses and fits the code. */
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const known = new Set(getMetadataStorage().getTargetValidationMetadatas(EnvSchema, '', true, false).map((m) => m.propertyName));

  it('names every service the code needs', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'migrate', 'minio', 'node', 'node-minio', 'postgres', 'redis', 'worker']);
  });

  it('keeps the federated node in a profile of its own, with its own store, no hub database or queue, and a config that validates', () => {
    const node = compose.services.node as ComposeService & { profiles?: string[]; depends_on?: Record<string, unknown> };
    expect(node.profiles).toEqual(['node']);
    expect((compose.services['node-minio'] as { profiles?: string[] }).profiles).toEqual(['node']);
    expect(node.command).toEqual(['node', 'dist/src/node.js']);
    const env = node.environment ?? {};
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    expect(env).not.toHaveProperty('DATABASE_URL');
    expect(env).not.toHaveProperty('REDIS_URL');
    expect(Object.keys(node.depends_on ?? {})).toEqual(['node-minio']);
    // Compose refuses to start until the hospital's .env sets these; with them, the node's config validates.
    const required = Object.entries(env).filter(([, v]) => String(v).startsWith('${')).map(([k]) => k).sort();
    expect(required).toEqual(['ASSAY_HUB_URL', 'ASSAY_NODE_ID', 'ASSAY_S3_SECRET_KEY']);
    const config = loadConfig({ ...env, ASSAY_HUB_URL: 'https://hub.example.org', ASSAY_NODE_ID: '5b0c8f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', ASSAY_S3_SECRET_KEY: 'a-hospital-secret-of-some-length' });
    expect(config.storage.endpoint).toBe('http://node-minio:9000');
    expect(config.federation.hubUrl).toBe('https://hub.example.org');
    expect(node.ports ?? []).toEqual([]);
  });

  it('starts the API, the worker and the migration with the compiled entrypoints', () => {
    expect(compose.services.api?.command).toEqual(['node', 'dist/src/main.js']);
    expect(compose.services.worker?.command).toEqual(['node', 'dist/src/worker.js']);
    expect(compose.services.migrate?.command).toEqual(['node', 'dist/src/cli/main.js', 'migrate']);
  });

  it.each(['api', 'worker', 'migrate'])('gives %s only variables the config schema knows, and a config that validates', (name) => {
    const env = compose.services[name]?.environment ?? {};
    const unknown = Object.keys(env).filter((k) => !known.has(k));
    expect(unknown).toEqual([]);
    const config = loadConfig(env);
    expect(config.storage.endpoint).toBe('http://minio:9000');
    expect(config.database.url).toContain('@postgres:5432/');
    expect(config.redis.url).toBe('redis://redis:6379');
    expect(config.mode).toBe('production');
  });

  it.each(['api', 'worker'])('gives %s a metrics listener with a token, on the compose network only (never published)', (name) => {
    const service = compose.services[name];
    const config = loadConfig(service?.environment ?? {});
    expect(config.metrics).toMatchObject({ port: 9464, host: '0.0.0.0' });
    expect(config.metrics.token).toMatch(/^\$\{ASSAY_METRICS_TOKEN:\?/);
    expect(config.logFormat).toBe('json');
    expect(service?.expose).toEqual(['9464']);
    expect((service?.ports ?? []).join(' ')).not.toContain('9464');
  });

  it('gives the worker the Docker socket and the API none', () => {
    const raw = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(raw).toMatch(/\/var\/run\/docker\.sock:\/var\/run\/docker\.sock/);
    expect(JSON.stringify(compose.services.api)).not.toMatch(/docker\.sock/);
  });
});
