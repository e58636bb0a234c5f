import { isTransientInfraFault } from './transient-faults';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isTransientInfraFault', () => {
  it.each([
    ['a refused connection (object store down)', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9100')],
    ['a reset socket', withCode('ECONNRESET')],
    ['PostgreSQL shutting down (57P01)', withCode('57P01', 'terminating connection due to administrator command')],
    ['PostgreSQL starting up (57P03)', withCode('57P03')],
    ['a pg connection exception (08006)', withCode('08006')],
    ['pg losing its socket', new Error('Connection terminated unexpectedly')],
    ['ioredis with the server gone', new Error('Connection is closed.')],
    ['a wrapped driver error (TypeORM)', Object.assign(new Error('query failed'), { driverError: withCode('57P01') })],
    ['a fetch failure with a cause', Object.assign(new TypeError('fetch failed'), { cause: withCode('ECONNREFUSED') })],
    ['an AggregateError of refused addresses', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], '')],
    ['S3 SlowDown', withCode('SlowDown')],
  ])('%s is transient', (_what, error) => {
    expect(isTransientInfraFault(error)).toBe(true);
  });

  it.each([
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a missing object', withCode('NoSuchKey')],
    ['a constraint violation', withCode('23505', 'duplicate key value violates unique constraint')],
    ['a NUL byte rejected by PostgreSQL', withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
    ['not an error', 'ECONNREFUSED'],
    ['null', null],
  ])('%s is not', (_what, error) => {
    expect(isTransientInfraFault(error)).toBe(false);
  });

  it('does not loop on a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = a;
    expect(isTransientInfraFault(a)).toBe(false);
  });
});
