import { Controller, Get, INestApplication, Logger, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as HttpLogger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import request from 'supertest';
import { ConfigModule } from '../config/config.module';
import { loadConfig } from '../config/config.schema';
import { httpMetricsMiddleware } from './http-observability';
import { addLogContext, runWithLogContext } from './log-context';
import { createProcessLogger, escapeControl, PinoNestLogger } from './logger';
import { AssayMetrics } from './metrics';
import { ObservabilityModule } from './observability.module';

/** A pino destination that keeps the lines it is given. */
class Capture implements DestinationStream {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  json(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

const jsonConfig = { logLevel: 'log', logFormat: 'json' } as const;

describe('process logger (pino)', () => {
  it('writes one JSON object a line with level, time, role and the Nest context', () => {
    const out = new Capture();
    const logger = new PinoNestLogger(createProcessLogger({ config: jsonConfig, role: 'worker', destination: out }));
    logger.log('worker w-1 consuming sandbox-cpu', 'Worker');
    logger.debug('not at level log', 'Worker');
    const [line] = out.json();
    expect(out.lines).toHaveLength(1);
    expect(line).toMatchObject({ level: 'info', role: 'worker', context: 'Worker', msg: 'worker w-1 consuming sandbox-cpu' });
    expect(typeof line?.['time']).toBe('string');
  });

  it('puts the job fields on every line written inside a job, also from timers it started, and none outside', async () => {
    const out = new Capture();
    const logger = new PinoNestLogger(createProcessLogger({ config: jsonConfig, role: 'worker', destination: out }));
    await runWithLogContext({ jobId: 'r1:execute:0', attempt: 1, runId: 'r-1' }, async () => {
      addLogContext({ submissionId: 's-1' });
      logger.log('preparing', 'RunExecutor');
      await new Promise<void>((resolve) => setTimeout(() => (logger.warn('heartbeat late', 'RunExecutor'), resolve()), 5));
    });
    logger.log('outside', 'Worker');
    const [a, b, c] = out.json();
    for (const line of [a, b]) expect(line).toMatchObject({ jobId: 'r1:execute:0', attempt: 1, runId: 'r-1', submissionId: 's-1' });
    expect(c).not.toHaveProperty('runId');
    expect(c).not.toHaveProperty('submissionId');
  });

  it('routes Nest error(message, stack, context) into stack and context, and an Error into err', () => {
    const out = new Capture();
    const logger = new PinoNestLogger(createProcessLogger({ config: jsonConfig, role: 'api', destination: out }));
    logger.error('boom', 'Error: boom\n    at x (y.ts:1:1)', 'RunExecutor');
    logger.error(new Error('kaput'), 'Worker');
    const [a, b] = out.json();
    expect(a).toMatchObject({ level: 'error', msg: 'boom', context: 'RunExecutor', stack: 'Error: boom\n    at x (y.ts:1:1)' });
    expect(b).toMatchObject({ level: 'error', msg: 'kaput', context: 'Worker' });
    expect((b?.['err'] as { message: string }).message).toBe('kaput');
  });

  it('escapes NUL and control characters of vendor-provided text: one line stays one line', () => {
    const out = new Capture();
    const logger = new PinoNestLogger(createProcessLogger({ config: jsonConfig, role: 'worker', destination: out }));
    const hostile = 'model\u0000name\r\n{"level":"fatal","msg":"forged"}\u001b[2J';
    logger.warn(`submission name ${hostile}`, 'X');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]!.trimEnd().split('\n')).toHaveLength(1);
    expect(out.lines[0]).not.toMatch(/[\u0000\u001b\r]/);
    expect(out.json()[0]?.['msg']).toBe(`submission name ${hostile}`);
  });

  it('redacts secrets wherever they turn up in a logged object', () => {
    const out = new Capture();
    const logger = createProcessLogger({ config: jsonConfig, role: 'api', destination: out });
    logger.info({ req: { headers: { authorization: 'Bearer tok-SECRET-1', cookie: 'assay_session=SECRET-2' } }, token: 'SECRET-3', user: { password: 'SECRET-4' } }, 'x');
    expect(out.lines[0]).not.toMatch(/SECRET/);
    expect(out.lines[0]).toContain('[redacted]');
  });

  it('pretty format: one readable line each, fields as key=value, control characters escaped', () => {
    const out = new Capture();
    const logger = new PinoNestLogger(createProcessLogger({ config: { logLevel: 'log', logFormat: 'pretty' }, role: 'worker', destination: out }));
    runWithLogContext({ runId: 'r-9' }, () => logger.log('line\nforged\u0000', 'RunExecutor'));
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\S+ INFO  \[RunExecutor\] line\\nforged\\u0000 runId=r-9\n$/);
    expect(escapeControl('a\u2028b\u009bc')).toBe('a\\u2028b\\u009bc');
  });
});

@Controller('api/things')
class ThingsController {
  private readonly logger = new Logger('Things');
  @Get(':id')
  get(@Param('id') id: string): { id: string } {
    this.logger.log(`thing ${id.length}`);
    return { id };
  }
}

describe('API request log (nestjs-pino) and HTTP metrics', () => {
  let app: INestApplication;
  const out = new Capture();
  let metrics: AssayMetrics;

  beforeAll(async () => {
    const config = loadConfig({ ASSAY_LOG_FORMAT: 'json' });
    const logger = createProcessLogger({ config, role: 'api', destination: out });
    @Module({ imports: [ConfigModule.forRoot(config), ObservabilityModule.forRoot({ role: 'api', httpLogger: logger })], controllers: [ThingsController] })
    class TestModule {}
    app = await NestFactory.create(TestModule, { bufferLogs: true });
    app.useLogger(app.get(HttpLogger));
    app.flushLogs();
    metrics = app.get(AssayMetrics);
    app.use(httpMetricsMiddleware(metrics));
    await app.init();
  });
  afterAll(() => app.close());

  it('logs id, method, path without query, route template, status and latency, and never a credential', async () => {
    const res = await request(app.getHttpServer())
      .get('/api/things/3f2b8c1e-0000-4000-8000-000000000001?token=SECRET-QUERY')
      .set('Authorization', 'Bearer SECRET-BEARER')
      .set('Cookie', 'assay_session=SECRET-COOKIE')
      .set('X-Api-Key', 'SECRET-KEY');
    expect(res.status).toBe(200);
    const all = out.lines.join('');
    expect(all).not.toMatch(/SECRET/);
    const lines = out.json();
    const done = lines.find((l) => l['msg'] === 'GET /api/things/:id 200');
    expect(done).toBeDefined();
    expect(done).toMatchObject({ route: '/api/things/:id', res: { statusCode: 200 }, req: { method: 'GET', path: '/api/things/3f2b8c1e-0000-4000-8000-000000000001' } });
    expect(typeof done?.['responseTimeMs']).toBe('number');
    expect(typeof done?.['reqId']).toBe('string');
    expect(res.headers['x-request-id']).toBe(done?.['reqId']);
    // The handler's own line carries the request's id.
    expect(lines.find((l) => l['msg'] === 'thing 36')).toMatchObject({ context: 'Things', reqId: done?.['reqId'] });
  });

  it('keeps a plain X-Request-Id from a proxy and replaces one that smuggles text', async () => {
    expect((await request(app.getHttpServer()).get('/api/things/1').set('X-Request-Id', 'edge-42')).headers['x-request-id']).toBe('edge-42');
    const forged = await request(app.getHttpServer()).get('/api/things/1').set('X-Request-Id', 'x" injected="1');
    expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('times requests under their route template; unmatched URLs share one series', async () => {
    for (let i = 0; i < 5; i++) await request(app.getHttpServer()).get(`/probe/${i}/etc/passwd`);
    const text = (await metrics.render()).body;
    expect(text).toMatch(/assay_http_request_duration_seconds_count\{method="GET",route="\/api\/things\/:id",status="200"\} [1-9]/);
    expect(text).toMatch(/assay_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 5/);
    expect(text).not.toMatch(/passwd|3f2b8c1e/);
  });
});
