import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import type { AppConfig } from '../config/config.schema';
import { currentLogContext } from './log-context';
import type { ProcessRole } from './metrics';

/** Nest's levels (ASSAY_LOG_LEVEL) as pino's. */
const PINO_LEVEL: Record<AppConfig['logLevel'], Level> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * Never written, wherever they turn up in a logged object: credentials in request headers (the HTTP serializers
 * keep none in the first place; this is the second line) and fields named like secrets.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'token',
  'password',
  'secret',
  '*.token',
  '*.password',
  '*.secret',
];
export const REDACTED = '[redacted]';

/**
 * The process's root logger: JSON lines (pino) carrying the fields of the current unit of work (log-context.ts), or
 * one readable line each with ASSAY_LOG_FORMAT=pretty. JSON escapes control characters and NUL in any string, vendor
 * text included; the readable form escapes them too (prettyDestination).
 */
export function createProcessLogger(input: { config: Pick<AppConfig, 'logLevel' | 'logFormat'>; role: ProcessRole; destination?: DestinationStream }): Logger {
  const out = input.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: PINO_LEVEL[input.config.logLevel],
      base: { role: input.role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => ({ ...currentLogContext() }),
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      serializers: { err: pino.stdSerializers.err },
    },
    input.config.logFormat === 'pretty' ? prettyDestination(out) : out,
  );
}

/** C0/C1 controls, DEL and the line/paragraph separators, escaped as \uXXXX (\n and \t as such). */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

const PRETTY_SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'role', 'context', 'err', 'stack']);

/** One readable line per pino line: `time LEVEL [context] message key=value …`, a stack indented below. */
export function prettyDestination(out: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(escapeControl(line.trimEnd()) + '\n');
        return;
      }
      const value = (v: unknown): string => escapeControl(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));
      const fields = Object.entries(o)
        .filter(([k]) => !PRETTY_SKIP.has(k))
        .map(([k, v]) => `${k}=${value(v)}`);
      const context = typeof o['context'] === 'string' ? ` [${escapeControl(o['context'])}]` : '';
      const level = String(o['level'] ?? 'info').toUpperCase().padEnd(5);
      const err = o['err'] as { stack?: unknown; message?: unknown } | undefined;
      const stack = typeof o['stack'] === 'string' ? o['stack'] : typeof err?.stack === 'string' ? err.stack : null;
      const indented = stack ? '\n' + stack.split('\n').map((l) => `    ${escapeControl(l)}`).join('\n') : '';
      out.write(`${String(o['time'] ?? '')} ${level}${context} ${value(o['msg'] ?? '')}${fields.length > 0 ? ' ' + fields.join(' ') : ''}${indented}\n`);
    },
  };
}

const looksLikeStack = (s: string): boolean => /\n\s+at /.test(s);

/**
 * Nest's LoggerService over a pino logger, for the worker (and a federation node): `new Logger('X').log(msg)` keeps
 * working and each line is JSON with `context`. Nest passes the context last; error() may pass a stack before it.
 */
export class PinoNestLogger implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = [...params];
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' && !looksLikeStack(rest[rest.length - 1] as string) ? (rest.pop() as string) : undefined;
    const stack = rest.find((p): p is string => typeof p === 'string' && (level === 'error' || level === 'fatal'));
    const fields: Record<string, unknown> = { ...(context ? { context } : {}), ...(stack ? { stack } : {}) };
    if (message instanceof Error) this.pino[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.pino[level]({ ...fields, ...(message as Record<string, unknown>) });
    else this.pino[level](fields, String(message));
  }
}
