import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImageModels } from './build-image-models';
import { buildSmoothThresholdOnnx, lesionDetectionModel, lesionSegmentationModel } from './image-models';

const FIXTURES = join(__dirname, '..', '..', 'test', 'fixtures', 'onnx');
const PY = '/usr/bin/python3';
const hasOnnx = ((): boolean => {
  try {
    execFileSync(PY, ['-c', 'import onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('example image models', () => {
  it('the committed fixtures are what the builder writes now', async () => {
    const out = mkdtempSync(join(tmpdir(), 'assay-image-models-'));
    try {
      await buildImageModels(out);
      for (const name of ['lesion-seg', 'lesion-det']) {
        for (const file of ['model.onnx', 'manifest.json']) {
          expect(readFileSync(join(out, name, file)).equals(readFileSync(join(FIXTURES, name, file)))).toBe(true);
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('declares free spatial dims and the manifests the runner expects', () => {
    expect(lesionSegmentationModel().manifest).toMatchObject({ layout: 'NCDHW', inputs: { ct: 'image' }, outputs: { mask: 'probabilities' }, output: { kind: 'probabilities', channel: 1 } });
    expect(lesionDetectionModel().manifest).toMatchObject({ layout: 'NCDHW', outputs: { detections: 'heatmap' }, output: { kind: 'heatmap' } });
    expect(() => buildSmoothThresholdOnnx({ graphName: 'x', docString: '', layout: 'NCDHW', kernel: 2, passes: 1, offset: 0, gain: 1, twoChannel: false, inputName: 'a', outputName: 'b' })).toThrow(/odd/);
  });

  (hasOnnx ? it : it.skip)('passes the onnx checker (full check, shape inference) with free d, h, w', () => {
    const script = `
import json, sys, onnx
out = {}
for name in sys.argv[1:]:
    m = onnx.load(name)
    onnx.checker.check_model(m, full_check=True)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out[name] = {"input": dims(m.graph.input[0]), "output": dims(m.graph.output[0]), "opset": m.opset_import[0].version}
print(json.dumps(out))
`;
    const seg = join(FIXTURES, 'lesion-seg', 'model.onnx');
    const det = join(FIXTURES, 'lesion-det', 'model.onnx');
    const r = JSON.parse(execFileSync(PY, ['-c', script, seg, det], { encoding: 'utf8' }));
    expect(r[seg]).toEqual({ input: [1, 1, 'd', 'h', 'w'], output: [1, 2, 'd', 'h', 'w'], opset: 13 });
    expect(r[det]).toEqual({ input: [1, 1, 'd', 'h', 'w'], output: [1, 1, 'd', 'h', 'w'], opset: 13 });
  });
});
