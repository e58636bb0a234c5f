/**
 * NIfTI-1 and NIfTI-2 reader (.nii, .nii.gz) on top of nifti-reader-js, which parses the header fields and byte
 * order; everything that guards memory (gunzip, size checks) and the geometry (sform/qform → LPS) is done here.
 *
 * Gzip bombs: only the first kilobytes of a .nii.gz are inflated to read the header; the voxel count and datatype it
 * declares are checked against the caller's limits, and the full inflate is then capped at exactly the size the
 * header declares (`maxOutputLength`), so a stream that inflates further is refused without being inflated.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { checkOrthonormal } from './geometry';
import { Geometry, Vec3, Volume } from './volume';
import { checkDeclaredSize, resolveLimits, VolumeError, VolumeLimits } from './volume-error';
import { applyLinearScale, BYTES_PER_VOXEL, decodeVoxels, VoxelType } from './voxel-buffer';

type NiftiModule = typeof import('nifti-reader-js');
type NiftiHeader = ReturnType<NiftiModule['readHeader']>;

let niftiModule: NiftiModule | undefined;

/**
 * nifti-reader-js 0.8 is ESM-only and its exports map offers only an "import" condition, so `require('nifti-reader-js')`
 * fails in this CommonJS build. Its entry file is loaded by path instead: Node ≥ 20.19 requires ES modules
 * synchronously, and jest transforms the package (jest.config.js transformIgnorePatterns).
 */
function niftiReader(): NiftiModule {
  if (niftiModule) return niftiModule;
  for (const dir of require.resolve.paths('nifti-reader-js') ?? []) {
    const entry = join(dir, 'nifti-reader-js', 'dist', 'nifti.js');
    if (existsSync(entry)) return (niftiModule = require(entry) as NiftiModule);
  }
  throw new Error('nifti-reader-js is not installed');
}

export interface NiftiReadOptions {
  limits?: Partial<VolumeLimits>;
  /** Keep the stored integers (label masks): scl_slope/scl_inter are not applied. */
  labels?: boolean;
}

/** NIfTI datatype codes we read (nifti1.h DT_*); everything else (complex, RGB, int64, float128…) is refused. */
const DATATYPES: Record<number, VoxelType> = { 2: 'uint8', 256: 'int8', 4: 'int16', 512: 'uint16', 8: 'int32', 768: 'uint32', 16: 'float32', 64: 'float64' };

/** A header's vox_offset beyond this is not a real file (extensions are kilobytes): refuse rather than inflate it. */
const MAX_VOX_OFFSET = 16 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];

export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** sizeof_hdr (348 or 540, either byte order) and the magic at its place: "n+1"/"ni1" at 344, "n+2" at 4. */
export function niftiKind(bytes: Uint8Array): 'nifti1' | 'nifti1-pair' | 'nifti2' | undefined {
  if (bytes.length < 348) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = [view.getInt32(0, true), view.getInt32(0, false)];
  const magic = (at: number): string => String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
  if (size.includes(348) && magic(344) === 'n+1\0') return 'nifti1';
  if (size.includes(348) && magic(344) === 'ni1\0') return 'nifti1-pair';
  if (size.includes(540) && magic(4) === 'n+2\0') return 'nifti2';
  return undefined;
}

/** sizeof_hdr is 348 or 540 (either byte order): a NIfTI header, possibly cut before its magic. */
export function startsLikeNifti(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 4);
  return [348, 540].some((n) => view.getInt32(0, true) === n || view.getInt32(0, false) === n);
}

/** Reads a .nii or .nii.gz held in memory. `name` is only used in messages. */
export function readNifti(name: string, bytes: Uint8Array, options: NiftiReadOptions = {}): Volume {
  const limits = resolveLimits(options.limits);
  const gz = isGzip(bytes);
  const headerBytes = gz ? inflateHead(name, bytes) : bytes;
  const kind = niftiKind(headerBytes);
  if (kind === undefined && startsLikeNifti(headerBytes) && headerBytes.length < 540) {
    throw new VolumeError('truncated', `${name}: truncated inside the NIfTI header (${headerBytes.length} bytes${gz ? ' after decompression' : ''})`);
  }
  if (kind === undefined) {
    throw new VolumeError('format_mismatch', `${name}: ${gz ? 'gzip data that does not contain' : 'not'} a NIfTI-1/NIfTI-2 header (sizeof_hdr 348/540 with magic n+1/n+2)`);
  }
  if (kind === 'nifti1-pair') throw new VolumeError('unsupported', `${name}: a NIfTI .hdr/.img pair header (magic ni1); send a single-file .nii or .nii.gz`);
  const headerSize = kind === 'nifti2' ? 540 : 348;
  const header = parseHeader(name, headerBytes.subarray(0, headerSize));
  const layout = checkHeader(name, header, kind, limits);
  const total = layout.voxOffset + layout.dataBytes;
  const file = gz ? inflateAll(name, bytes, total) : bytes;
  if (file.length < total) {
    throw new VolumeError('truncated', `${name}: truncated: the header declares ${total} bytes (${layout.dataBytes} of voxel data from offset ${layout.voxOffset}), the ${gz ? 'decompressed ' : ''}file has ${file.length}`);
  }
  const geometry = niftiGeometry(name, header, file, kind, layout.dims);
  let data = decodeVoxels(file, layout.voxOffset, layout.voxels, layout.type, header.littleEndian);
  const slope = header.scl_slope;
  const inter = header.scl_inter;
  // nifti1.h: scl_slope 0 (or not finite) means "no scaling".
  if (!options.labels && Number.isFinite(slope) && slope !== 0 && Number.isFinite(inter) && !(slope === 1 && inter === 0)) {
    data = applyLinearScale(data, layout.type, slope, inter);
  }
  return { ...geometry, data };
}

function parseHeader(name: string, bytes: Uint8Array): NiftiHeader {
  // A copy into its own ArrayBuffer: a Buffer's .buffer may be a shared pool with the header at any offset.
  const copy = new Uint8Array(bytes).buffer;
  try {
    return niftiReader().readHeader(copy);
  } catch (error) {
    throw new VolumeError('not_a_volume', `${name}: the NIfTI header cannot be parsed (${(error as Error).message})`);
  }
}

interface Layout {
  dims: Vec3;
  voxels: number;
  type: VoxelType;
  voxOffset: number;
  dataBytes: number;
}

function checkHeader(name: string, h: NiftiHeader, kind: 'nifti1' | 'nifti2', limits: VolumeLimits): Layout {
  const type = DATATYPES[h.datatypeCode];
  if (type === undefined) {
    throw new VolumeError('unsupported', `${name}: NIfTI datatype ${h.datatypeCode} is not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64 are)`);
  }
  if (h.numBitsPerVoxel !== BYTES_PER_VOXEL[type] * 8) {
    throw new VolumeError('not_a_volume', `${name}: bitpix ${h.numBitsPerVoxel} does not match datatype ${type}`);
  }
  const ndim = h.dims[0] ?? 0;
  const dim = (c: number): number => h.dims[c] ?? 0;
  if (!(ndim >= 1 && ndim <= 7)) throw new VolumeError('not_a_volume', `${name}: dim[0] = ${ndim} is not 1..7`);
  for (let c = 1; c <= ndim; c++) {
    if (!Number.isSafeInteger(dim(c)) || dim(c) < 1) throw new VolumeError('not_a_volume', `${name}: dim[${c}] = ${dim(c)} is not a positive integer`);
  }
  // 2-D is one slice; 4-D with a single volume is 3-D; anything with more than one volume, or 1-D, is not an image volume.
  const extra = h.dims.slice(4, ndim + 1).filter((n) => n !== 1);
  if (ndim < 2 || extra.length > 0) {
    throw new VolumeError('unsupported', `${name}: a ${ndim}-D NIfTI with dims [${h.dims.slice(1, ndim + 1).join(', ')}]; only 2-D and 3-D volumes (or 4-D with one volume) are read`);
  }
  const dims: Vec3 = [dim(1), dim(2), ndim >= 3 ? dim(3) : 1];
  const voxels = dims[0] * dims[1] * dims[2];
  checkDeclaredSize(name, voxels, BYTES_PER_VOXEL[type], limits);
  const minOffset = kind === 'nifti2' ? 544 : 352;
  const voxOffset = h.vox_offset;
  if (!Number.isInteger(voxOffset) || voxOffset < minOffset || voxOffset > MAX_VOX_OFFSET) {
    throw new VolumeError('not_a_volume', `${name}: vox_offset ${voxOffset} is not an integer in ${minOffset}..${MAX_VOX_OFFSET}`);
  }
  return { dims, voxels, type, voxOffset, dataBytes: voxels * BYTES_PER_VOXEL[type] };
}

/** Inflates just enough of the stream to hold the largest header (540 bytes), never more than a few MiB. */
function inflateHead(name: string, gz: Uint8Array): Buffer {
  for (let n = 1024; ; n *= 2) {
    const part = gz.subarray(0, n);
    let out: Buffer;
    try {
      // Z_SYNC_FLUSH: a cut-off input is expected here and returns what it inflated, instead of an error.
      out = gunzipSync(part, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 8 * 1024 * 1024 });
    } catch (error) {
      throw gunzipError(name, error, 8 * 1024 * 1024);
    }
    if (out.length >= 540 || part.length === gz.length) return out;
  }
}

function inflateAll(name: string, gz: Uint8Array, declared: number): Buffer {
  try {
    return gunzipSync(gz, { maxOutputLength: declared });
  } catch (error) {
    throw gunzipError(name, error, declared);
  }
}

function gunzipError(name: string, error: unknown, cap: number): VolumeError {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ERR_BUFFER_TOO_LARGE') {
    return new VolumeError('too_large', `${name}: the gzip stream inflates to more than the ${cap} bytes its NIfTI header declares (a decompression bomb?); refused before inflating further`);
  }
  if (e.code === 'Z_BUF_ERROR') return new VolumeError('truncated', `${name}: truncated: the gzip stream ends early (${e.message})`);
  return new VolumeError('not_a_volume', `${name}: corrupt gzip stream (${e.message})`);
}

/**
 * Grid of the file in LPS. sform when sform_code > 0, else qform when qform_code > 0, else pixdim alone (nifti1.h
 * "method 1", origin 0). RAS → LPS negates the first two rows. Spacing is pixdim exactly as stored (float32 widened)
 * when it agrees with the sform's column norms to float32 precision, else the column norms; direction columns are
 * normalised.
 */
function niftiGeometry(name: string, h: NiftiHeader, file: Uint8Array, kind: 'nifti1' | 'nifti2', dims: Vec3): Geometry {
  const pixdim: Vec3 = [h.pixDims[1] ?? 0, h.pixDims[2] ?? 0, h.pixDims[3] ?? 0];
  if (dims[2] === 1 && !(pixdim[2] > 0)) pixdim[2] = 1; // a 2-D file may leave pixdim[3] at 0
  let m: number[][]; // 3×4, RAS
  let spacing: Vec3;
  if (h.sform_code > 0) {
    m = readSrows(file, kind, h.littleEndian);
    const norms = [0, 1, 2].map((c) => Math.hypot(m[0]![c]!, m[1]![c]!, m[2]![c]!));
    spacing = [0, 1, 2].map((c) => (Math.abs(pixdim[c]! - norms[c]!) <= 1e-5 * norms[c]! ? pixdim[c]! : norms[c]!)) as Vec3;
  } else {
    if (!pixdim.every((s) => Number.isFinite(s) && s > 0)) throw new VolumeError('not_a_volume', `${name}: pixdim [${pixdim.join(', ')}] must be positive`);
    spacing = pixdim;
    m = h.qform_code > 0 ? qformMatrix(h, pixdim) : [[pixdim[0], 0, 0, 0], [0, pixdim[1], 0, 0], [0, 0, pixdim[2], 0]];
  }
  const lps = [m[0]!.map((v) => -v), m[1]!.map((v) => -v), m[2]!];
  const direction = new Array<number>(9);
  for (let c = 0; c < 3; c++) {
    const norm = Math.hypot(lps[0]![c]!, lps[1]![c]!, lps[2]![c]!);
    if (!(norm > 0) || !Number.isFinite(norm) || !(spacing[c]! > 0)) throw new VolumeError('not_a_volume', `${name}: the ${h.sform_code > 0 ? 'sform' : 'qform'} has a zero or invalid axis ${c}`);
    for (let r = 0; r < 3; r++) direction[3 * r + c] = lps[r]![c]! / norm;
  }
  checkOrthonormal(name, direction);
  const origin: Vec3 = [lps[0]![3]!, lps[1]![3]!, lps[2]![3]!];
  // A NaN or infinite offset would put every voxel nowhere: resampled, such a mask silently becomes all zeros.
  if (!origin.every(Number.isFinite)) throw new VolumeError('not_a_volume', `${name}: the ${h.sform_code > 0 ? 'sform' : h.qform_code > 0 ? 'qform' : 'header'} origin [${origin.join(', ')}] is not finite`);
  return { dims, spacing, origin, direction: direction as Geometry['direction'] };
}

/** srow_x/y/z straight from the header bytes (float32 at 280 in NIfTI-1, float64 at 400 in NIfTI-2). */
function readSrows(file: Uint8Array, kind: 'nifti1' | 'nifti2', littleEndian: boolean): number[][] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const [start, size] = kind === 'nifti2' ? [400, 8] : [280, 4];
  return [0, 1, 2].map((r) =>
    [0, 1, 2, 3].map((c) => {
      const at = start + (4 * r + c) * size;
      return size === 8 ? view.getFloat64(at, littleEndian) : view.getFloat32(at, littleEndian);
    }),
  );
}

/** nifti1_io.c nifti_quatern_to_mat44: rotation from (b, c, d), qfac from pixdim[0], offsets as the last column. */
function qformMatrix(h: NiftiHeader, pixdim: Vec3): number[][] {
  let [b, c, d] = [h.quatern_b, h.quatern_c, h.quatern_d];
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    // nifti1_io: a 180° rotation; renormalise (b, c, d).
    const s = 1 / Math.sqrt(b * b + c * c + d * d);
    [a, b, c, d] = [0, b * s, c * s, d * s];
  } else a = Math.sqrt(a);
  const qfac = (h.pixDims[0] ?? 0) < 0 ? -1 : 1;
  const r = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const offset = [h.qoffset_x, h.qoffset_y, h.qoffset_z];
  return r.map((row, i) => [row[0]! * pixdim[0], row[1]! * pixdim[1], row[2]! * qfac * pixdim[2], offset[i]!]);
}
