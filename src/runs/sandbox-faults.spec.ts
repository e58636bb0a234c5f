import { FailureReason } from './evaluation.entity';
import { sandboxFault } from './sandbox-faults';
import type { SandboxLimits, SandboxResult } from '../sandbox/sandbox.types';

const limits: SandboxLimits = { memoryBytes: 512 * 1048576, nanoCpus: 1e9, pidsLimit: 256, timeoutMs: 30_000, outputBytes: 1024, logBytes: 65536, tmpBytes: 1 };
const result = (r: Partial<SandboxResult>): SandboxResult => ({
  exitCode: 0,
  timedOut: false,
  oomKilled: false,
  outputExceeded: false,
  logBytes: Buffer.from('starting\nTraceback: boom\n'),
  logs: 'starting\nTraceback: boom\n',
  logsTruncated: false,
  outputRefused: null,
  timings: { createMs: 0, startMs: 0, waitMs: 0, removeMs: 0, totalMs: 0 },
  runtime: 'runsc',
  ...r,
});

describe('sandboxFault', () => {
  it('names the limit that was hit', () => {
    expect(sandboxFault('timeout', { result: result({ timedOut: true }), limits })).toMatchObject({ reason: FailureReason.Timeout, detail: 'exceeded the time limit of 30 s' });
    expect(sandboxFault('out_of_memory', { result: result({ oomKilled: true }), limits })).toMatchObject({ reason: FailureReason.OutOfMemory, detail: 'exceeded the memory limit of 512 MiB' });
    expect(sandboxFault('invalid_output', { result: result({ outputExceeded: true }), limits, batch: 2 })).toMatchObject({ reason: FailureReason.InvalidOutput, detail: 'batch 2: wrote more than the output cap of 1024 bytes' });
  });

  it('gives the exit code with the last log line, and says what is wrong with the predictions file', () => {
    expect(sandboxFault('exit_nonzero', { result: result({ exitCode: 3 }), limits, batch: 1 }).detail).toBe('batch 1: exit code 3; last log line: Traceback: boom');
    expect(sandboxFault('invalid_output', { result: result({}), limits, batch: 1, predictionsFile: 'not_a_file' }).detail).toMatch(/not a regular file \(links are never followed\)/);
    expect(sandboxFault('missing_predictions', { result: result({}), limits, batch: 1 })).toMatchObject({ reason: FailureReason.MissingPredictions, detail: 'batch 1: the container exited 0 without writing /output/predictions.jsonl' });
  });
});
