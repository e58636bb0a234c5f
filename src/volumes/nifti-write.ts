import { writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { gzipSync } from 'node:zlib';
import { Geometry, Volume, VoxelArray, voxelCount } from './volume';

/**
 * NIfTI-1 writer, single file (`.nii`) or gzipped (`.nii.gz`): 348-byte header, 4 zero extension bytes, voxels from
 * byte 352 (vox_offset), little-endian.
 *
 * Geometry: Volume is LPS, NIfTI is RAS, so the first two rows of the affine are negated. Both forms are written:
 * - sform (srow_x/y/z, float32) = RAS affine [diag(-1,-1,1)·direction·diag(spacing) | diag(-1,-1,1)·origin];
 * - qform = the same rotation as a unit quaternion (b, c, d; a ≥ 0 implied), pixdim[0] = qfac = −1 when the
 *   direction is left-handed (det < 0: the third column is negated before the quaternion is taken, as the standard
 *   requires), qoffset = RAS origin. pixdim[1..3] = spacing (float32).
 * Codes: both default to 1 (NIFTI_XFORM_SCANNER_ANAT: world = the scanner's patient frame, which is what our LPS
 * origin/direction mean). Pass 2 (ALIGNED_ANAT) for volumes resampled onto another image's grid. nibabel and ITK prefer
 * the sform when its code is > 0, so the two must agree; they differ only by the float32 rounding of each.
 * xyzt_units = 2 (NIFTI_UNITS_MM, no time unit); scl_slope 1, scl_inter 0 (stored values are the values).
 *
 * Determinism: the uncompressed bytes depend only on the volume. The gzip header is normalised (mtime 0, OS byte 255
 * "unknown"); the deflate stream is whatever Node's bundled zlib makes, which is stable for one Node build but is not
 * promised across zlib versions or SIMD code paths. Pin content hashes on the uncompressed bytes.
 */

export type NiftiDatatype = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

/** NIfTI-1 datatype codes and bits per voxel (nifti1.h). */
const DATATYPES: Record<NiftiDatatype, { code: number; bitpix: number; ctor: new (n: number) => VoxelArray; min: number; max: number; integer: boolean }> = {
  uint8: { code: 2, bitpix: 8, ctor: Uint8Array, min: 0, max: 255, integer: true },
  int16: { code: 4, bitpix: 16, ctor: Int16Array, min: -32768, max: 32767, integer: true },
  int32: { code: 8, bitpix: 32, ctor: Int32Array, min: -2147483648, max: 2147483647, integer: true },
  float32: { code: 16, bitpix: 32, ctor: Float32Array, min: -Infinity, max: Infinity, integer: false },
  float64: { code: 64, bitpix: 64, ctor: Float64Array, min: -Infinity, max: Infinity, integer: false },
  int8: { code: 256, bitpix: 8, ctor: Int8Array, min: -128, max: 127, integer: true },
  uint16: { code: 512, bitpix: 16, ctor: Uint16Array, min: 0, max: 65535, integer: true },
  uint32: { code: 768, bitpix: 32, ctor: Uint32Array, min: 0, max: 4294967295, integer: true },
};

export type XformCode = 0 | 1 | 2 | 3 | 4;

export interface NiftiWriteOptions {
  /** Stored datatype; default: the datatype of `volume.data`. Values are converted and range-checked if it differs. */
  readonly datatype?: NiftiDatatype;
  /** Default 1 (scanner anatomical). */
  readonly qformCode?: XformCode;
  /** Default 1 (scanner anatomical). */
  readonly sformCode?: XformCode;
  /** `descrip`, at most 79 ASCII characters. */
  readonly description?: string;
  /** zlib level for `.nii.gz`; default 6. */
  readonly gzipLevel?: number;
}

export const NIFTI1_HEADER_BYTES = 348;
export const NIFTI1_VOX_OFFSET = 352;

export function datatypeOf(data: VoxelArray): NiftiDatatype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/** The RAS affine (4×4, row-major) that the sform stores, in float64 before float32 rounding. */
export function rasAffine(g: Geometry): number[][] {
  const d = g.direction;
  const s = g.spacing;
  const flip = [-1, -1, 1];
  // `+ 0` turns −0 into 0, so that a zero cosine is stored without a sign bit.
  return [0, 1, 2]
    .map((r) => [
      (flip[r] as number) * (d[3 * r] as number) * s[0] + 0,
      (flip[r] as number) * (d[3 * r + 1] as number) * s[1] + 0,
      (flip[r] as number) * (d[3 * r + 2] as number) * s[2] + 0,
      (flip[r] as number) * g.origin[r as 0 | 1 | 2] + 0,
    ])
    .concat([[0, 0, 0, 1]]);
}

export interface Quaternion {
  readonly b: number;
  readonly c: number;
  readonly d: number;
  /** −1 when the rotation matrix was left-handed (its third column was negated first), else 1. */
  readonly qfac: 1 | -1;
}

/**
 * The NIfTI qform quaternion of a 3×3 orthonormal matrix `m` (row-major): nifti1_io.c `nifti_mat44_to_quatern`
 * without the polar decomposition (our directions are orthonormal by contract; we check). a ≥ 0 is implied.
 */
export function quaternionOf(m: readonly number[]): Quaternion {
  let [r11, r12, r13, r21, r22, r23, r31, r32, r33] = m as [number, number, number, number, number, number, number, number, number];
  const det = r11 * (r22 * r33 - r23 * r32) - r12 * (r21 * r33 - r23 * r31) + r13 * (r21 * r32 - r22 * r31);
  const qfac: 1 | -1 = det < 0 ? -1 : 1;
  if (qfac < 0) {
    r13 = -r13;
    r23 = -r23;
    r33 = -r33;
  }
  let a = r11 + r22 + r33 + 1;
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac };
}

function assertOrthonormal(direction: readonly number[]): void {
  for (let p = 0; p < 3; p++) {
    for (let q = 0; q < 3; q++) {
      let dot = 0;
      for (let r = 0; r < 3; r++) dot += (direction[3 * r + p] as number) * (direction[3 * r + q] as number);
      if (Math.abs(dot - (p === q ? 1 : 0)) > 1e-4) {
        throw new Error(`nifti-write: direction is not orthonormal (columns ${p}·${q} = ${dot}); a qform cannot represent it`);
      }
    }
  }
}

function convertData(data: VoxelArray, datatype: NiftiDatatype): VoxelArray {
  const t = DATATYPES[datatype];
  if (datatypeOf(data) === datatype) return data;
  const out = new t.ctor(data.length);
  for (let n = 0; n < data.length; n++) {
    const v = data[n] as number;
    if (t.integer && (!Number.isInteger(v) || v < t.min || v > t.max)) {
      throw new Error(`nifti-write: value ${v} at voxel ${n} does not fit ${datatype}`);
    }
    out[n] = v;
  }
  return out;
}

function dataBytes(data: VoxelArray): Buffer {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (endianness() === 'LE' || data.BYTES_PER_ELEMENT === 1) return bytes;
  // Big-endian host: copy and swap to the little-endian file order.
  const copy = Buffer.from(bytes);
  if (data.BYTES_PER_ELEMENT === 2) copy.swap16();
  else if (data.BYTES_PER_ELEMENT === 4) copy.swap32();
  else copy.swap64();
  return copy;
}

/** The bytes of a single-file NIfTI-1 image (`.nii`). */
export function encodeNifti1(volume: Volume, options: NiftiWriteOptions = {}): Buffer {
  const datatype = options.datatype ?? datatypeOf(volume.data);
  const t = DATATYPES[datatype];
  const n = voxelCount(volume);
  if (volume.data.length !== n) throw new Error(`nifti-write: data has ${volume.data.length} voxels, dims say ${n}`);
  if (volume.dims.some((v) => !Number.isInteger(v) || v < 1 || v > 32767)) throw new Error(`nifti-write: dims ${volume.dims.join('x')} do not fit NIfTI-1`);
  if (volume.spacing.some((v) => !(v > 0) || !Number.isFinite(v))) throw new Error(`nifti-write: spacing must be positive, got ${volume.spacing.join(',')}`);
  assertOrthonormal(volume.direction);
  const description = options.description ?? '';
  if (description.length > 79 || !/^[\x20-\x7e]*$/.test(description)) throw new Error('nifti-write: description must be at most 79 printable ASCII characters');

  const header = Buffer.alloc(NIFTI1_VOX_OFFSET); // 348-byte header + 4 zero extension bytes
  header.writeInt32LE(NIFTI1_HEADER_BYTES, 0); // sizeof_hdr
  header.write('r', 38, 'latin1'); // regular (legacy ANALYZE field; nibabel writes 'r')
  const dim = [3, volume.dims[0], volume.dims[1], volume.dims[2], 1, 1, 1, 1];
  dim.forEach((v, idx) => header.writeInt16LE(v, 40 + 2 * idx));
  header.writeInt16LE(t.code, 70); // datatype
  header.writeInt16LE(t.bitpix, 72); // bitpix

  const ras = rasAffine(volume);
  // qform rotation: the RAS direction matrix (columns unit vectors).
  const flip = [-1, -1, 1];
  const rot = volume.direction.map((v, idx) => (flip[Math.floor(idx / 3)] as number) * v);
  const q = quaternionOf(rot);
  const pixdim = [q.qfac, volume.spacing[0], volume.spacing[1], volume.spacing[2], 1, 1, 1, 1];
  pixdim.forEach((v, idx) => header.writeFloatLE(v, 76 + 4 * idx));
  header.writeFloatLE(NIFTI1_VOX_OFFSET, 108); // vox_offset
  header.writeFloatLE(1, 112); // scl_slope
  header.writeFloatLE(0, 116); // scl_inter
  header.writeUInt8(2, 123); // xyzt_units: NIFTI_UNITS_MM
  header.write(description, 148, 'latin1'); // descrip[80], NUL-padded by alloc
  header.writeInt16LE(options.qformCode ?? 1, 252);
  header.writeInt16LE(options.sformCode ?? 1, 254);
  header.writeFloatLE(q.b, 256);
  header.writeFloatLE(q.c, 260);
  header.writeFloatLE(q.d, 264);
  header.writeFloatLE(ras[0]?.[3] as number, 268); // qoffset_x
  header.writeFloatLE(ras[1]?.[3] as number, 272);
  header.writeFloatLE(ras[2]?.[3] as number, 276);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) header.writeFloatLE(ras[r]?.[c] as number, 280 + 16 * r + 4 * c);
  header.write('n+1\0', 344, 'latin1'); // magic: single file

  return Buffer.concat([header, dataBytes(convertData(volume.data, datatype))]);
}

/** gzip with a normalised header (mtime 0, OS 255), so that equal input gives equal bytes on one zlib build. */
export function gzipNormalised(bytes: Buffer, level = 6): Buffer {
  const gz = gzipSync(bytes, { level });
  gz.writeUInt32LE(0, 4); // MTIME (zlib already writes 0; kept explicit)
  gz.writeUInt8(255, 9); // OS: zlib writes its build platform's code
  return gz;
}

/** `.nii.gz` bytes. */
export function encodeNifti1Gz(volume: Volume, options: NiftiWriteOptions = {}): Buffer {
  return gzipNormalised(encodeNifti1(volume, options), options.gzipLevel);
}

/** Writes `.nii` or, when the path ends in `.gz`, `.nii.gz`. Returns the uncompressed NIfTI bytes (for hashing). */
export async function writeNifti(path: string, volume: Volume, options: NiftiWriteOptions = {}): Promise<Buffer> {
  const nii = encodeNifti1(volume, options);
  await writeFile(path, path.endsWith('.gz') ? gzipNormalised(nii, options.gzipLevel) : nii);
  return nii;
}
