// The runner end to end on image tasks, outside Docker: `node runner.js predict|check` with ASSAY_INPUT_DIR,
// ASSAY_MODEL_DIR and ASSAY_OUTPUT_DIR, onnxruntime-node on the CPU. Test volumes (a 40 HU box with bright spheres,
// and their truth masks) are written, and masks read back, by nibabel (test/fixtures/imaging/phantom.py), so neither
// side of a check shares the runner's NIfTI code.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSmoothThresholdOnnx, lesionDetectionModel, lesionSegmentationModel } from '../../../../scripts/reference-models/image-models';

const REPO = join(__dirname, '..', '..', '..', '..');
const RUNNER = join(__dirname, '..', 'runner.js');
const PHANTOM = join(REPO, 'test', 'fixtures', 'imaging', 'phantom.py');
const PY = '/usr/bin/python3';
const hasNibabel = ((): boolean => {
  try {
    execFileSync(PY, ['-c', 'import nibabel, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
// Without nibabel there is no independent reader/writer: these checks cannot run, and say so.
const itPy = hasNibabel ? it : it.skip;
if (!hasNibabel) process.stderr.write(`runner-imaging.spec: ${PY} with nibabel missing; end-to-end image checks skipped\n`);

const TMP = mkdtempSync(join(tmpdir(), 'assay-runner-imaging-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let runs = 0;

const SEG_IFACE = { inputs: [{ name: 'ct', kind: 'volume', format: 'nifti' }], outputs: [{ name: 'mask', kind: 'mask' }] };
const DET_IFACE = { inputs: [{ name: 'ct', kind: 'volume', format: 'nifti' }], outputs: [{ name: 'detections', kind: 'detections' }] };

interface Phantom {
  dims: number[];
  spacing?: number[];
  affine?: number[][];
  spheres: { center: number[]; radiusMm: number; hu: number }[];
  noise?: number;
  dtype?: 'int16' | 'float32';
}

interface Run {
  dir: string;
  status: number | null;
  stderr: string;
  lines: Record<string, unknown>[];
}

/** Writes /input (one case per phantom), /model, runs the runner, returns its outcome. */
function runRunner(command: 'predict' | 'check', iface: unknown, model: Uint8Array, manifest: unknown, phantoms: Phantom[]): Run {
  const dir = join(TMP, `run-${runs++}`);
  const input = join(dir, 'input');
  const modelDir = join(dir, 'model');
  const output = join(dir, 'output');
  for (const d of [input, modelDir, output]) mkdirSync(d, { recursive: true });
  const cases = phantoms.map((p, n) => {
    const caseId = `case-${n}`;
    mkdirSync(join(input, 'cases', caseId), { recursive: true });
    execFileSync(PY, [PHANTOM, 'write', JSON.stringify(p), join(input, 'cases', caseId, 'ct.nii.gz'), join(dir, `${caseId}-truth.nii.gz`)]);
    return { caseId, inputs: { ct: `cases/${caseId}/ct.nii.gz` } };
  });
  writeFileSync(join(input, 'manifest.json'), JSON.stringify({ benchmark: 'b', task: 't', interface: iface, cases }));
  writeFileSync(join(modelDir, 'model.onnx'), model);
  writeFileSync(join(modelDir, 'manifest.json'), JSON.stringify(manifest));
  const r = spawnSync(process.execPath, [RUNNER, command], {
    env: { PATH: process.env.PATH, ASSAY_INPUT_DIR: input, ASSAY_MODEL_DIR: modelDir, ASSAY_OUTPUT_DIR: output, ASSAY_THREADS: '1' },
    encoding: 'utf8',
  });
  const pred = join(output, 'predictions.jsonl');
  const lines = existsSync(pred) ? readFileSync(pred, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { dir, status: r.status, stderr: r.stderr, lines };
}

function dice(run: Run, caseId: string): { dice: number; maskVoxels: number; truthVoxels: number; sameAffine: boolean; shape: number[]; dtype: string } {
  const line = run.lines.find((l) => l.caseId === caseId);
  return JSON.parse(execFileSync(PY, [PHANTOM, 'dice', join(run.dir, 'output', String(line?.mask)), join(run.dir, `${caseId}-truth.nii.gz`)], { encoding: 'utf8' }));
}

const PHANTOM_A: Phantom = {
  dims: [80, 72, 40],
  spacing: [0.8, 0.8, 2.0],
  spheres: [
    { center: [25, 30, 15], radiusMm: 8, hu: 110 },
    { center: [55, 45, 25], radiusMm: 6, hu: 95 },
  ],
  noise: 8,
};

describe('runner image tasks (outside Docker, CPU)', () => {
  itPy('segments the bright spheres with the example model, tiled, on the input grid', () => {
    const { onnx, manifest } = lesionSegmentationModel();
    const r = runRunner('predict', SEG_IFACE, onnx, manifest, [PHANTOM_A, { ...PHANTOM_A, dtype: 'float32', noise: 0 }]);
    expect(r.stderr).toMatch(/execution provider: cpu/);
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      { caseId: 'case-0', mask: 'masks/case-0.nii.gz' },
      { caseId: 'case-1', mask: 'masks/case-1.nii.gz' },
    ]);
    expect(r.stderr).toMatch(/case case-0: 80×72×40, 4 tiles/);
    for (const id of ['case-0', 'case-1']) {
      const d = dice(r, id);
      expect(d).toMatchObject({ sameAffine: true, shape: [80, 72, 40], dtype: 'uint8' });
      expect(d.dice).toBeGreaterThan(0.85);
    }
  });

  itPy('windows the input before the model: a pointwise model cuts at c − w/4 when it thresholds 0.25', () => {
    const pointwise = buildSmoothThresholdOnnx({ graphName: 'p', docString: '', layout: 'NCDHW', kernel: 1, passes: 0, offset: 0.25, gain: 1000, twoChannel: false, inputName: 'x', outputName: 'y' });
    const manifest = { name: 'p', version: '1', inputs: { ct: 'x' }, outputs: { mask: 'y' }, layout: 'NCDHW', preprocessing: { window: { center: 140, width: 160 } }, output: { kind: 'probabilities' } };
    // Spheres at 100 HU (cut at 140 − 40 = 100: in) and 99 HU (out); tissue at 40 (out).
    const r = runRunner('predict', SEG_IFACE, pointwise, manifest, [
      { dims: [40, 40, 20], spheres: [{ center: [12, 12, 10], radiusMm: 5, hu: 101 }, { center: [28, 28, 10], radiusMm: 5, hu: 99 }] },
    ]);
    expect(r.status).toBe(0);
    const d = dice(r, 'case-0');
    // Truth holds both spheres; the mask exactly the first: Dice = 2·|A| / (|A| + 2|A|) = 2/3.
    expect(d.maskVoxels * 2).toBe(d.truthVoxels);
    expect(d.dice).toBeCloseTo(2 / 3, 6);
  });

  itPy('resamples to the model spacing and writes the mask back on the input grid', () => {
    const { onnx, manifest } = lesionSegmentationModel();
    const r = runRunner('predict', SEG_IFACE, onnx, { ...manifest, resample: { spacing: [1.6, 1.6, 1.0] } }, [PHANTOM_A]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/80×72×40 -> 40×36×80 at \[1\.6, 1\.6, 1\] mm/);
    const d = dice(r, 'case-0');
    expect(d).toMatchObject({ sameAffine: true, shape: [80, 72, 40], dtype: 'uint8' });
    expect(d.dice).toBeGreaterThan(0.75);
  });

  itPy('detects sphere centres in world LPS mm on an oblique, anisotropic grid (checked against nibabel)', () => {
    const [c, s] = [Math.cos((20 * Math.PI) / 180), Math.sin((20 * Math.PI) / 180)];
    const [cu, su] = [Math.cos((10 * Math.PI) / 180), Math.sin((10 * Math.PI) / 180)];
    // R = Rz(20°) · Rx(10°), then diag(0.9, 0.7, 2.0) mm; RAS, as NIfTI stores it.
    const R = [
      [c, -s * cu, s * su],
      [s, c * cu, -c * su],
      [0, su, cu],
    ];
    const sp = [0.9, 0.7, 2.0];
    const origin = [-30, 12, -50];
    const affine = [0, 1, 2].map((r) => [...[0, 1, 2].map((col) => R[r]![col]! * sp[col]!), origin[r]!]).concat([[0, 0, 0, 1]]);
    const centres = [
      [22, 30, 14],
      [50, 44, 22],
    ];
    const { onnx, manifest } = lesionDetectionModel();
    const r = runRunner('predict', DET_IFACE, onnx, manifest, [
      { dims: [70, 72, 36], affine, spheres: [{ center: centres[0]!, radiusMm: 8, hu: 120 }, { center: centres[1]!, radiusMm: 7, hu: 100 }] },
    ]);
    expect(r.status).toBe(0);
    const found = r.lines[0]!.detections as { x: number; y: number; z: number; score: number }[];
    expect(found).toHaveLength(2);
    const expected = JSON.parse(execFileSync(PY, [PHANTOM, 'world', join(r.dir, 'input', 'cases', 'case-0', 'ct.nii.gz'), JSON.stringify(centres)], { encoding: 'utf8' })) as number[][];
    for (const e of expected) {
      const best = Math.min(...found.map((f) => Math.hypot(f.x - e[0]!, f.y - e[1]!, f.z - e[2]!)));
      expect(best).toBeLessThan(0.5);
    }
    for (const f of found) expect(f.score).toBeGreaterThan(0.5);
  });

  itPy('check reports the model against the interface; a bad manifest field fails predict with its name', () => {
    const { onnx, manifest } = lesionSegmentationModel();
    const ok = runRunner('check', SEG_IFACE, onnx, manifest, []);
    expect(ok.status).toBe(0);
    const report = JSON.parse(readFileSync(join(ok.dir, 'output', 'check.json'), 'utf8'));
    expect(report).toMatchObject({ ok: true, problems: [], model: { layout: 'NCDHW', opset: 13, inputs: [{ name: 'image', shape: [1, 1, 'd', 'h', 'w'] }] } });
    const wrongLayout = runRunner('check', SEG_IFACE, onnx, { ...manifest, layout: 'NCHW', tiling: undefined }, []);
    expect(wrongLayout.status).toBe(0);
    expect(JSON.parse(readFileSync(join(wrongLayout.dir, 'output', 'check.json'), 'utf8')).problems[0]).toMatch(/layout NCHW needs rank 4 \[N, C, H, W\], model has shape \[1, 1, d, h, w\]/);
    const bad = runRunner('predict', SEG_IFACE, onnx, { ...manifest, tiling: { size: [64, 64, 64], overlap: 2 } }, [PHANTOM_A]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('runner: model manifest: "tiling.overlap" must be a number in [0, 0.9], got 2');
    const escape = runRunner('predict', SEG_IFACE, onnx, manifest, []);
    writeFileSync(join(escape.dir, 'input', 'manifest.json'), JSON.stringify({ interface: SEG_IFACE, cases: [{ caseId: 'x', inputs: { ct: '../../etc/passwd' } }] }));
    const r = spawnSync(process.execPath, [RUNNER, 'predict'], {
      env: { PATH: process.env.PATH, ASSAY_INPUT_DIR: join(escape.dir, 'input'), ASSAY_MODEL_DIR: join(escape.dir, 'model'), ASSAY_OUTPUT_DIR: join(escape.dir, 'output'), ASSAY_THREADS: '1' },
      encoding: 'utf8',
    });
    expect(r.stderr).toMatch(/case 'x': input 'ct' path escapes \/input/);
  });
});
