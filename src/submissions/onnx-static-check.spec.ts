import type { AlgorithmInterfaceDto } from '../benchmarks/benchmark-definition';
import { rawScoreModel, wrongWidthModel } from '../../test/support/onnx-models';
import { staticOnnxCheck } from './onnx-static-check';
import type { OnnxModelManifest } from './submissions.entity';

const IFACE = { inputs: [{ name: 'features', kind: 'vector', length: 30, dtype: 'float32' }], outputs: [{ name: 'probability', kind: 'probability' }] } as unknown as AlgorithmInterfaceDto;
const manifest = (input = 'input', output = 'probability'): OnnxModelManifest => ({ name: 'm', version: '1', inputs: { features: input }, outputs: { probability: output } });

describe('staticOnnxCheck (the worker runs it before the sandbox)', () => {
  it('accepts a model that fits and reports its signature', () => {
    const verdict = staticOnnxCheck(rawScoreModel(), manifest(), IFACE, 'wdbc');
    expect(verdict).toMatchObject({ ok: true, inspection: { inputs: [{ name: 'input', elemType: 'float32' }] } });
  });

  it('names the field and the problem for bytes that are not ONNX', () => {
    const verdict = staticOnnxCheck(Buffer.from('plain text, not a protobuf'), manifest(), IFACE, 'wdbc');
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toMatch(/^model: not an ONNX model/);
    expect(verdict.problems).toEqual([{ field: 'model', problem: expect.stringMatching(/^not an ONNX model/) }]);
  });

  it('names every misfit of the signature', () => {
    const verdict = staticOnnxCheck(wrongWidthModel(31), manifest('input', 'logits'), IFACE, 'wdbc');
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.problems.map((p) => p.problem)).toEqual([expect.stringMatching(/last dimension 31, expected 30/), expect.stringMatching(/no output 'logits'/)]);
    expect(verdict.reason).toMatch(/^model: does not fit wdbc: /);
  });
});
