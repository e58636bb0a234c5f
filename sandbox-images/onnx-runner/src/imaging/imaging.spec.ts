// Unit specs of the runner's image pieces (plain CommonJS, required as is), run in node against onnxruntime-node on
// the CPU: manifest validation, preprocessing, resampling, tiling, slice-by-slice inference.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSmoothThresholdOnnx } from '../../../../scripts/reference-models/image-models';

// Jest runs each spec in its own vm realm, and onnxruntime-common's `instanceof Float32Array` checks reject arrays
// from another realm (scripts/reference-models/build.spec.ts), so inference runs in a plain node child that calls
// inference.js exactly as the runner does; the spec compares the maps it sends back.
const CHILD = `
process.env.ORT_DISABLE_TELEMETRY = '1';
const ort = require('onnxruntime-node');
const { predictMap } = require(${JSON.stringify(join(__dirname, 'inference.js'))});
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const { modelPath, data, dims, cfg } = JSON.parse(input);
  const buf = Buffer.from(data, 'base64');
  const volume = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  try {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
    const { map, tiles } = await predictMap(ort, session, volume, dims, cfg);
    process.stdout.write(JSON.stringify({ tiles, map: Buffer.from(map.buffer).toString('base64') }));
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: err.message }));
  }
});
`;
const TMP = mkdtempSync(join(tmpdir(), 'assay-imaging-spec-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let modelCount = 0;

/** The runner's probability map of `data` through `model` (in a child node process). */
function predictMap(model: Uint8Array, data: Float32Array, dims: number[], cfg: Cfg): Promise<{ map: Float32Array; tiles: number }> {
  const modelPath = join(TMP, `model-${modelCount++}.onnx`);
  writeFileSync(modelPath, model);
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', CHILD], { cwd: __dirname, maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const r = JSON.parse(stdout) as { error?: string; tiles: number; map: string };
      if (r.error) return reject(new Error(r.error));
      const b = Buffer.from(r.map, 'base64');
      resolve({ tiles: r.tiles, map: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) });
    });
    child.stdin?.end(JSON.stringify({ modelPath, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), dims, cfg }));
  });
}

type Geometry = { dims: number[]; spacing: number[]; origin: number[]; direction: number[] };
interface Cfg {
  layout: 'NCDHW' | 'NCHW';
  inputName: string;
  outputName: string;
  contextSlices: number;
  tiling: null | { size: number[]; overlap: number; blend: string };
  output: { kind: string; channel: number; threshold: number };
}
/* eslint-disable @typescript-eslint/no-require-imports */
const manifest = require('./manifest.js') as {
  validateImageManifest(m: unknown, iface: unknown): Cfg & { preprocessing: unknown; resample: unknown };
  isImageInterface(iface: unknown): boolean;
};
const grid = require('./grid.js') as {
  preprocess(data: Float32Array, p: unknown): void;
  resampledGeometry(g: Geometry, spacing: number[]): Geometry;
  resampleLinear(data: Float32Array, from: Geometry, to: Geometry): Float32Array;
  resampleNearest(labels: Uint8Array, from: Geometry, to: Geometry): Uint8Array;
};
const inference = require('./inference.js') as {
  planTiles(dims: number[], tiling: Cfg['tiling'], fixed: number[]): { n: number; s: number; starts: number[]; norm: Float64Array }[];
};
/* eslint-enable @typescript-eslint/no-require-imports */

const SEG_IFACE = { inputs: [{ name: 'ct', kind: 'volume', format: 'nifti' }], outputs: [{ name: 'mask', kind: 'mask' }] };
const DET_IFACE = { inputs: [{ name: 'ct', kind: 'volume', format: 'nifti' }], outputs: [{ name: 'detections', kind: 'detections' }] };
const SEG = {
  name: 'm',
  version: '1',
  inputs: { ct: 'image' },
  outputs: { mask: 'probabilities' },
  layout: 'NCDHW',
  preprocessing: { window: { center: 40, width: 400 } },
  tiling: { size: [16, 16, 16], overlap: 0.5, blend: 'gaussian' },
  output: { kind: 'probabilities', channel: 1, threshold: 0.5 },
};

describe('image manifest validation', () => {
  it('accepts the documented forms and fills defaults', () => {
    const cfg = manifest.validateImageManifest(SEG, SEG_IFACE);
    expect(cfg).toMatchObject({ inputName: 'image', outputName: 'probabilities', layout: 'NCDHW', tiling: { size: [16, 16, 16], overlap: 0.5, blend: 'gaussian' } });
    const det = manifest.validateImageManifest({ ...SEG, outputs: { detections: 'heatmap' }, tiling: undefined, output: { kind: 'heatmap', threshold: 0.3 } }, DET_IFACE);
    expect(det.output).toEqual({ kind: 'heatmap', channel: 0, threshold: 0.3, minDistanceMm: 0, activation: 'none', method: 'components', maxDetections: 1000 });
    expect(manifest.isImageInterface(SEG_IFACE)).toBe(true);
    expect(manifest.isImageInterface({ inputs: [{ name: 'features', kind: 'vector', length: 30 }], outputs: [] })).toBe(false);
  });

  it.each<[string, Record<string, unknown>, RegExp, typeof SEG_IFACE]>(([
    ['layout', { layout: 'NDHWC' }, /"layout" must be "NCDHW".*got "NDHWC"/],
    ['window width', { preprocessing: { window: { center: 40, width: 0 } } }, /"preprocessing.window.width" must be a positive number, got 0/],
    ['window center', { preprocessing: { window: { width: 10 } } }, /"preprocessing.window.center" must be a number/],
    ['two preprocessings', { preprocessing: { window: { center: 1, width: 2 }, zscore: true } }, /"preprocessing" must have one of .* not "window" and "zscore"/],
    ['unknown preprocessing', { preprocessing: { clahe: {} } }, /"preprocessing.clahe" is not known/],
    ['normalize std', { preprocessing: { normalize: { mean: 0, std: -1 } } }, /"preprocessing.normalize.std" must be a positive number, got -1/],
    ['overlap', { tiling: { size: [8, 8, 8], overlap: 0.95 } }, /"tiling.overlap" must be a number in \[0, 0.9\], got 0.95/],
    ['tile size', { tiling: { size: [8, 8], overlap: 0.5 } }, /"tiling.size" must be three positive integers/],
    ['blend', { tiling: { size: [8, 8, 8], blend: 'linear' } }, /"tiling.blend" must be "gaussian" or "constant", got "linear"/],
    ['tiling on NCHW', { layout: 'NCHW' }, /"tiling" applies to layout "NCDHW" only/],
    ['contextSlices on NCDHW', { contextSlices: 1 }, /"contextSlices" applies to layout "NCHW" only/],
    ['resample', { resample: { spacing: [1, 0, 1] } }, /"resample.spacing" must be three positive numbers/],
    ['output kind', { output: { kind: 'heatmap' } }, /"output.kind" must be "probabilities" or "logits" for a mask output, got "heatmap"/],
    ['threshold', { output: { kind: 'logits', threshold: 1 } }, /"output.threshold" must be a number in \(0, 1\), got 1/],
    ['channel', { output: { kind: 'logits', channel: -1 } }, /"output.channel" must be a non-negative integer, got -1/],
    ['input map', { inputs: { image: 'image' } }, /"inputs.ct" must be the name of the ONNX input/],
    ['output map', { outputs: {} }, /"outputs.mask" must be the name of the ONNX output/],
    ['minDistanceMm', { outputs: { detections: 'h' }, output: { kind: 'heatmap', minDistanceMm: -2 } }, /"output.minDistanceMm" must be a non-negative number/, DET_IFACE],
  ] as [string, Record<string, unknown>, RegExp, typeof SEG_IFACE?][]).map(([w, p, m, i]) => [w, p, m, i ?? SEG_IFACE]))('names the field: %s', (_what, patch, message, iface) => {
    expect(() => manifest.validateImageManifest({ ...SEG, ...patch }, iface)).toThrow(message);
  });

  it('refuses interfaces it cannot run', () => {
    expect(() => manifest.validateImageManifest(SEG, { ...SEG_IFACE, inputs: [...SEG_IFACE.inputs, { name: 'pet', kind: 'volume' }] })).toThrow(/"interface.inputs" must hold exactly one volume input/);
    expect(() => manifest.validateImageManifest(SEG, { ...SEG_IFACE, inputs: [{ name: 'ct', kind: 'volume', format: 'dicom' }] })).toThrow(/"interface.inputs\[0\].format" must be "nifti"/);
    expect(() => manifest.validateImageManifest(SEG, { ...SEG_IFACE, outputs: [{ name: 'p', kind: 'probability' }] })).toThrow(/exactly one output of kind "mask" or "detections"/);
  });
});

describe('preprocessing', () => {
  it('window clips to [c - w/2, c + w/2] and scales to [0, 1]', () => {
    const d = Float32Array.from([-1000, -160, 40, 140, 240, 3000]);
    grid.preprocess(d, { kind: 'window', center: 40, width: 400 });
    expect(Array.from(d)).toEqual([0, 0, 0.5, 0.75, 1, 1]);
  });

  it('normalize and zscore', () => {
    const d = Float32Array.from([10, 20, 30]);
    grid.preprocess(d, { kind: 'normalize', mean: 20, std: 5 });
    expect(Array.from(d)).toEqual([-2, 0, 2]);
    const z = Float32Array.from([1, 2, 3, 4]);
    grid.preprocess(z, { kind: 'zscore' });
    const sd = Math.sqrt(1.25);
    Array.from(z).forEach((v, i) => expect(v).toBeCloseTo((i + 1 - 2.5) / sd, 6));
  });
});

const geom = (dims: number[], spacing: number[]): Geometry => ({ dims, spacing, origin: [5, -3, 7], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });

describe('resampling', () => {
  it('keeps the extent: dims round(n · s / s′), same origin and direction', () => {
    expect(grid.resampledGeometry(geom([100, 80, 30], [0.7, 0.7, 2.5]), [1.4, 1.0, 1.25])).toEqual({ ...geom([50, 56, 60], [1.4, 1.0, 1.25]) });
  });

  it('linear resampling reproduces a linear field exactly inside the grid', () => {
    const from = geom([20, 18, 10], [0.8, 1.1, 2.5]);
    const f = (x: number, y: number, z: number): number => 3 + 0.5 * x - 0.25 * y + 0.125 * z; // world mm along the axes
    const data = new Float32Array(20 * 18 * 10);
    for (let k = 0; k < 10; k++) for (let j = 0; j < 18; j++) for (let i = 0; i < 20; i++) data[i + 20 * (j + 18 * k)] = f(i * 0.8, j * 1.1, k * 2.5);
    const to = grid.resampledGeometry(from, [1.0, 0.9, 1.2]);
    const out = grid.resampleLinear(data, from, to);
    let checked = 0;
    for (let k = 0; k < to.dims[2]!; k++) for (let j = 0; j < to.dims[1]!; j++) for (let i = 0; i < to.dims[0]!; i++) {
      const [x, y, z] = [i * 1.0, j * 0.9, k * 1.2];
      if (x > 19 * 0.8 || y > 17 * 1.1 || z > 9 * 2.5) continue; // beyond the last source voxel: clamped, not linear
      expect(out[i + to.dims[0]! * (j + to.dims[1]! * k)]).toBeCloseTo(f(x, y, z), 4);
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('nearest-neighbour back to the input grid takes the label of the nearest model voxel', () => {
    const input = geom([9, 4, 3], [1, 1, 1]);
    const model = grid.resampledGeometry(input, [3, 1, 1]); // dims [3, 4, 3]
    const labels = new Uint8Array(3 * 4 * 3);
    labels[1] = 1; // model voxel (1, 0, 0) = input i in [3 * 0.5, 3 * 1.5) -> i = 2, 3, 4
    const back = grid.resampleNearest(labels, model, input);
    expect(Array.from(back.subarray(0, 9))).toEqual([0, 0, 1, 1, 1, 0, 0, 0, 0]);
    expect(back.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

// A volume of 40 HU with two bright spheres (voxel units), windowed like the example model sees it.
function spheresVolume(dims: number[]): Float32Array {
  const [ni, nj, nk] = dims as [number, number, number];
  const d = new Float32Array(ni * nj * nk);
  const spheres = [
    { c: [12, 14, 9], r: 5, hu: 120 },
    { c: [28, 22, 20], r: 4, hu: 95 },
  ];
  let seed = 7;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 10;
  for (let k = 0; k < nk; k++) for (let j = 0; j < nj; j++) for (let i = 0; i < ni; i++) {
    let hu = 40 + noise();
    for (const s of spheres) if (Math.hypot(i - s.c[0]!, j - s.c[1]!, k - s.c[2]!) <= s.r) hu = s.hu + noise();
    d[i + ni * (j + nj * k)] = hu;
  }
  grid.preprocess(d, { kind: 'window', center: 60, width: 240 });
  return d;
}

const model3d = (kernel: number, passes: number, twoChannel = false): Uint8Array =>
  buildSmoothThresholdOnnx({ graphName: 't', docString: '', layout: 'NCDHW', kernel, passes, offset: 0.55, gain: 40, twoChannel, inputName: 'image', outputName: 'out' });

const cfgOf = (tiling: Cfg['tiling'], channel = 0, layout: Cfg['layout'] = 'NCDHW', contextSlices = 0): Cfg => ({
  layout,
  inputName: 'image',
  outputName: 'out',
  contextSlices,
  tiling,
  output: { kind: 'probabilities', channel, threshold: 0.5 },
});

function dice(a: Float32Array, b: Float32Array, t = 0.5): number {
  let inter = 0;
  let sa = 0;
  let sb = 0;
  for (let v = 0; v < a.length; v++) {
    const x = a[v]! >= t;
    const y = b[v]! >= t;
    if (x) sa++;
    if (y) sb++;
    if (x && y) inter++;
  }
  return (2 * inter) / (sa + sb);
}

describe('tiling (NCDHW)', () => {
  const dims = [40, 36, 30];

  it('plans tiles that cover every voxel, the last flush with the end', () => {
    const [ai, aj, ak] = inference.planTiles(dims, { size: [16, 16, 16], overlap: 0.5, blend: 'gaussian' }, [0, 0, 0]);
    expect(ai!.starts).toEqual([0, 8, 16, 24]);
    expect(aj!.starts).toEqual([0, 8, 16, 20]);
    expect(ak!.starts).toEqual([0, 8, 14]);
    for (const a of [ai!, aj!, ak!]) expect(Math.min(...a.norm)).toBeGreaterThan(0);
    // A free dimension larger than the volume shrinks to it; a fixed one is kept (edge-replicated padding).
    expect(inference.planTiles([10, 36, 30], { size: [16, 16, 16], overlap: 0.5, blend: 'constant' }, [0, 0, 0])[0]).toMatchObject({ s: 10, starts: [0] });
    expect(inference.planTiles([10, 36, 30], { size: [16, 16, 16], overlap: 0.5, blend: 'constant' }, [16, 0, 0])[0]).toMatchObject({ s: 16, starts: [0] });
  });

  it('a pointwise model gives the same map whole and tiled (Gaussian and constant blending)', async () => {
    const m = model3d(1, 0);
    const data = spheresVolume(dims);
    const whole = await predictMap(m, data, dims, cfgOf(null));
    expect(whole.tiles).toBe(1);
    for (const blend of ['gaussian', 'constant']) {
      const tiled = await predictMap(m, data, dims, cfgOf({ size: [16, 16, 16], overlap: 0.5, blend }));
      expect(tiled.tiles).toBe(4 * 4 * 3);
      let max = 0;
      for (let v = 0; v < data.length; v++) max = Math.max(max, Math.abs(tiled.map[v]! - whole.map[v]!));
      expect(max).toBeLessThan(1e-5);
    }
  });

  it('the example convolution model gives the same mask whole and tiled with overlap', async () => {
    const m = model3d(3, 2, true);
    const data = spheresVolume(dims);
    const whole = await predictMap(m, data, dims, cfgOf(null, 1));
    const tiled = await predictMap(m, data, dims, cfgOf({ size: [16, 16, 16], overlap: 0.5, blend: 'gaussian' }, 1));
    // Zero padding at tile edges shifts probabilities there a little; the Gaussian blend keeps it off the mask.
    expect(dice(whole.map, tiled.map)).toBeGreaterThan(0.99);
    let differing = 0;
    for (let v = 0; v < data.length; v++) if (whole.map[v]! >= 0.5 !== tiled.map[v]! >= 0.5) differing++;
    expect(differing).toBeLessThan(20);
    // The lesions are found at all (two spheres: 515 + 257 voxels).
    let fg = 0;
    for (let v = 0; v < data.length; v++) if (whole.map[v]! >= 0.5) fg++;
    expect(fg).toBeGreaterThan(500);
    // Background channel 0 is 1 − p.
    const bg = await predictMap(m, data, dims, cfgOf(null, 0));
    expect(Math.abs(bg.map[100]! + whole.map[100]! - 1)).toBeLessThan(1e-6);
  });

  it('says which tile failed and refuses a channel the output lacks', async () => {
    await expect(predictMap(model3d(1, 0), spheresVolume(dims), dims, cfgOf(null, 1))).rejects.toThrow(/output has 1 channel\(s\); "output.channel" 1 is not among them/);
  });
});

describe('slice by slice (NCHW)', () => {
  it('a 2.5-D model (contextSlices 1) equals the matching 3-D model on interior slices', async () => {
    const dims = [40, 36, 30];
    const data = spheresVolume(dims);
    const m2 = buildSmoothThresholdOnnx({ graphName: 't', docString: '', layout: 'NCHW', inputChannels: 3, kernel: 3, passes: 1, offset: 0.55, gain: 40, twoChannel: false, inputName: 'image', outputName: 'out' });
    const slices = await predictMap(m2, data, dims, cfgOf(null, 0, 'NCHW', 1));
    expect(slices.tiles).toBe(30);
    const volume = await predictMap(model3d(3, 1), data, dims, cfgOf(null));
    const plane = 40 * 36;
    let max = 0;
    // Slices 0 and 29: the 2-D model sees its neighbour clamped (repeated), the 3-D one sees zero padding.
    for (let v = plane; v < data.length - plane; v++) max = Math.max(max, Math.abs(slices.map[v]! - volume.map[v]!));
    expect(max).toBeLessThan(1e-5);
    let edge = 0;
    for (let v = 0; v < plane; v++) edge = Math.max(edge, Math.abs(slices.map[v]! - volume.map[v]!));
    expect(edge).toBeGreaterThan(1e-3);
  });
});
