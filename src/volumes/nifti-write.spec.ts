import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { mulberry32 } from '../common/seeded-random';
import { encodeNifti1, encodeNifti1Gz, NiftiDatatype, quaternionOf, rasAffine, writeNifti } from './nifti-write';
import { Geometry, IDENTITY_DIRECTION, Volume, voxelCount } from './volume';

const PYTHON = '/usr/bin/python3';
const READER = join(__dirname, '..', '..', 'test', 'golden', 'nibabel-read-nifti.py');
const HAS_NIBABEL = spawnSync(PYTHON, ['-c', 'import nibabel, scipy'], { stdio: 'ignore' }).status === 0;
if (!HAS_NIBABEL) {
  // eslint-disable-next-line no-console
  console.warn(`nifti-write.spec: SKIPPING the nibabel round trip: ${PYTHON} cannot import nibabel and scipy`);
}
const describeWithNibabel = HAS_NIBABEL ? describe : describe.skip;

interface NibabelView {
  shape: number[];
  dtype: string;
  affine: number[][];
  qform: number[][];
  sform: number[][];
  qform_code: number;
  sform_code: number;
  zooms: number[];
  qfac: number;
  vox_offset: number;
  spatial_units: string;
  data_b64: string;
}

/** Row-major rotation from a (not necessarily unit) quaternion; test-side construction of oblique directions. */
function rotation(w: number, x: number, y: number, z: number): Geometry['direction'] {
  const n = Math.hypot(w, x, y, z);
  [w, x, y, z] = [w / n, x / n, y / n, z / n];
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}

function volumeOf(geometry: Geometry, datatype: NiftiDatatype, seed: number): Volume {
  const random = mulberry32(seed);
  const n = voxelCount(geometry);
  const make = (): Volume['data'] => {
    switch (datatype) {
      case 'uint8': return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      case 'int16': return Int16Array.from({ length: n }, () => Math.floor(random() * 65536) - 32768);
      case 'float32': return Float32Array.from({ length: n }, () => (random() - 0.5) * 1e4);
      default: throw new Error(datatype);
    }
  };
  return { ...geometry, data: make() };
}

const CASES: { name: string; file: string; datatype: NiftiDatatype; geometry: Geometry; qformCode?: 1 | 2; sformCode?: 1 | 2 }[] = [
  {
    name: 'int16, oblique, anisotropic, non-zero origin',
    file: 'oblique.nii.gz',
    datatype: 'int16',
    geometry: { dims: [7, 5, 4], spacing: [0.7, 0.8, 5], origin: [-120.5, 33.25, -400.125], direction: rotation(0.97, 0.05, -0.08, 0.2) },
  },
  {
    name: 'uint8, identity LPS (a 180° rotation in RAS), single file',
    file: 'identity.nii',
    datatype: 'uint8',
    geometry: { dims: [6, 6, 3], spacing: [1, 1, 1.25], origin: [12, -7.5, 88], direction: IDENTITY_DIRECTION },
    sformCode: 2,
  },
  {
    name: 'float32, left-handed direction (qfac −1)',
    file: 'left-handed.nii.gz',
    datatype: 'float32',
    geometry: {
      dims: [4, 3, 5],
      spacing: [0.9765625, 0.9765625, 2.5],
      origin: [249.5, 180.25, -55],
      // A rotation with its third column negated.
      direction: ((r) => [r[0], r[1], -r[2], r[3], r[4], -r[5], r[6], r[7], -r[8]] as Geometry['direction'])(rotation(0.9, -0.1, 0.3, 0.05)),
    },
    qformCode: 2,
  },
  {
    name: 'int16, 180° rotation about x in RAS (the trace ≤ −0.5 branch)',
    file: 'flip.nii',
    datatype: 'int16',
    geometry: { dims: [3, 4, 2], spacing: [2, 3, 4], origin: [-1, -2, -3], direction: [-1, 0, 0, 0, 1, 0, 0, 0, -1] },
  },
];

describeWithNibabel('writeNifti read back by nibabel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nifti-write-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let views: NibabelView[] = [];
  const volumes = CASES.map((c, idx) => volumeOf(c.geometry, c.datatype, 100 + idx));
  beforeAll(async () => {
    for (const [idx, c] of CASES.entries()) {
      await writeNifti(join(dir, c.file), volumes[idx] as Volume, { qformCode: c.qformCode, sformCode: c.sformCode, description: 'assay nifti-write spec' });
    }
    views = JSON.parse(execFileSync(PYTHON, [READER, ...CASES.map((c) => join(dir, c.file))], { maxBuffer: 1 << 26 }).toString('utf8')) as NibabelView[];
  });

  it.each(CASES.map((c, idx) => [c.name, idx] as const))('gives the RAS affine exactly (float32 of the sform) and the same voxels: %s', (_name, idx) => {
    const c = CASES[idx]!;
    const v = views[idx]!;
    const volume = volumes[idx]!;
    // Expected from the LPS geometry independently of rasAffine: negate rows 0 and 1 of [D·diag(s) | o].
    const d = c.geometry.direction;
    const s = c.geometry.spacing;
    const expected = [0, 1, 2].map((r) => {
      const sign = r < 2 ? -1 : 1;
      // `+ 0`: the writer stores zero cosines as +0.
      return [0, 1, 2].map((col) => Math.fround(sign * (d[3 * r + col] as number) * (s[col] as number)) + 0).concat(Math.fround(sign * c.geometry.origin[r as 0 | 1 | 2]) + 0);
    });
    expect(v.affine.slice(0, 3)).toEqual(expected);
    expect(v.affine[3]).toEqual([0, 0, 0, 1]);
    expect(v.sform).toEqual(v.affine);
    // The qform is the same transform up to float32 rounding of the quaternion.
    v.qform.forEach((row, r) => row.forEach((x, col) => expect(Math.abs(x - (v.affine[r]?.[col] as number))).toBeLessThan(2e-5 * Math.max(1, Math.abs(x)))));
    expect(v.qform_code).toBe(c.qformCode ?? 1);
    expect(v.sform_code).toBe(c.sformCode ?? 1);
    expect(v.zooms).toEqual(s.map((x) => Math.fround(x)));
    const det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) + d[2] * (d[3] * d[7] - d[4] * d[6]);
    // LPS→RAS flips two axes, which keeps the handedness.
    expect(v.qfac).toBe(det < 0 ? -1 : 1);
    expect(v.vox_offset).toBe(352);
    expect(v.spatial_units).toBe('mm');
    expect(v.shape).toEqual(c.geometry.dims);
    expect(v.dtype).toBe(c.datatype);
    const written = Buffer.from(volume.data.buffer, volume.data.byteOffset, volume.data.byteLength);
    expect(Buffer.from(v.data_b64, 'base64').equals(written)).toBe(true);
  });

  it('writes 352 header bytes then the voxels, uncompressed for .nii', () => {
    const idx = 1;
    expect(statSync(join(dir, CASES[idx]!.file)).size).toBe(352 + voxelCount(CASES[idx]!.geometry));
  });
});

describe('nifti-write without nibabel', () => {
  const oblique = volumeOf(CASES[0]!.geometry, 'int16', 7);

  it('gives identical .nii.gz bytes for identical volumes, and the gzip holds the .nii bytes', () => {
    const a = encodeNifti1Gz(oblique);
    const b = encodeNifti1Gz({ ...oblique, data: Int16Array.from(oblique.data) });
    expect(a.equals(b)).toBe(true);
    expect(gunzipSync(a).equals(encodeNifti1(oblique))).toBe(true);
    expect(a[9]).toBe(255);
  });

  it('converts to a requested datatype and refuses values that do not fit', () => {
    const f = { ...CASES[1]!.geometry, data: Float64Array.from({ length: voxelCount(CASES[1]!.geometry) }, (_, n) => n % 200) };
    const nii = encodeNifti1(f, { datatype: 'uint8' });
    expect(nii.readInt16LE(70)).toBe(2);
    expect(nii.subarray(352)).toEqual(Buffer.from(Uint8Array.from(f.data)));
    expect(() => encodeNifti1({ ...f, data: Float64Array.from(f.data, (x) => x + 0.5) }, { datatype: 'uint8' })).toThrow(/does not fit uint8/);
  });

  it('refuses a direction that is not orthonormal', () => {
    expect(() => encodeNifti1({ ...oblique, direction: [1, 0.1, 0, 0, 1, 0, 0, 0, 1] })).toThrow(/orthonormal/);
  });

  it('gives a unit quaternion whose rotation is the matrix (a ≥ 0 implied)', () => {
    const random = mulberry32(3);
    for (let t = 0; t < 200; t++) {
      const r = rotation(random() - 0.5, random() - 0.5, random() - 0.5, random() - 0.5);
      const { b, c, d, qfac } = quaternionOf(r);
      expect(qfac).toBe(1);
      const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
      // nifti1.h: R from (a, b, c, d).
      const back = [
        a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
        2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b),
        2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b,
      ];
      back.forEach((x, n) => expect(Math.abs(x - (r[n] as number))).toBeLessThan(1e-12));
    }
  });

  it('puts the LPS origin into the RAS affine with x and y negated', () => {
    expect(rasAffine(CASES[3]!.geometry)).toEqual([
      [2, 0, 0, 1],
      [0, -3, 0, 2],
      [0, 0, -4, -3],
      [0, 0, 0, 1],
    ]);
  });
});
