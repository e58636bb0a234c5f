import { classifySandboxOutcome } from './container-run';
import type { SandboxResult } from './sandbox.types';

const ok: SandboxResult = {
  exitCode: 0,
  timedOut: false,
  oomKilled: false,
  outputExceeded: false,
  logBytes: Buffer.alloc(0),
  logs: '',
  logsTruncated: false,
  outputRefused: null,
  timings: { createMs: 0, startMs: 0, waitMs: 0, removeMs: 0, totalMs: 0 },
  runtime: 'runsc',
};

describe('classifySandboxOutcome', () => {
  it.each<[string, Partial<SandboxResult>, 'absent' | 'file' | 'not_a_file', string | null, string | null]>([
    ['success', {}, 'file', '{"caseId":"a"}\n', null],
    ['timeout wins over everything', { timedOut: true, exitCode: 137, oomKilled: true }, 'file', 'x', 'timeout'],
    ['oom', { oomKilled: true, exitCode: 137 }, 'absent', null, 'out_of_memory'],
    ['output cap, even with exit 0', { outputExceeded: true }, 'file', 'x', 'invalid_output'],
    ['an /output the release refused (FIFO, sparse file past the cap, too deep), even with exit 0', { outputRefused: '/output/p: a FIFO' }, 'file', 'x', 'invalid_output'],
    ['nonzero exit', { exitCode: 1 }, 'file', 'x', 'exit_nonzero'],
    ['no exit code', { exitCode: null }, 'absent', null, 'exit_nonzero'],
    ['a symlink as predictions', {}, 'not_a_file', null, 'invalid_output'],
    ['no predictions', {}, 'absent', null, 'missing_predictions'],
    ['unreadable predictions', {}, 'file', null, 'invalid_output'],
  ])('%s', (_what, r, kind, text, expected) => {
    expect(classifySandboxOutcome({ ...ok, ...r }, kind, text)).toBe(expected);
  });
});
