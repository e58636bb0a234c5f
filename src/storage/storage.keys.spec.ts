import { keyProblem } from './storage.keys';

describe('keyProblem', () => {
  it('accepts keys under the bucket prefixes', () => {
    expect(keyProblem('truth', 'truth/abc/test/labels.csv')).toBeNull();
    expect(keyProblem('submissions', 'staging/123/model.onnx')).toBeNull();
  });
  it.each([
    ['truth', '../truth/x'],
    ['truth', 'truth/../inputs/x'],
    ['truth', '/truth/x'],
    ['truth', 'truth//x'],
    ['inputs', 'truth/x'],
    ['inputs', 'cohorts/a b'],
    ['artifacts', 'runs/./x'],
  ] as const)('refuses %s key %s', (bucket, key) => {
    expect(keyProblem(bucket, key)).not.toBeNull();
  });
});
