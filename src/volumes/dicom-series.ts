/**
 * One CT/MR series from a set of single-frame DICOM Part-10 files, parsed with dicom-parser.
 *
 * Checks that the files are one regular grid before building it: one SeriesInstanceUID; the same Rows, Columns,
 * PixelSpacing and ImageOrientationPatient; slices along the normal with no duplicate position, no missing slice and
 * uniform spacing (within `sliceTolerance`). Slices are sorted by the projection of ImagePositionPatient on the
 * normal (row × column cosines), never by InstanceNumber or file order. DICOM patient coordinates are LPS already.
 * Only uncompressed little-endian transfer syntaxes are read; a compressed one is refused by its UID, before the
 * data set (which a deflate syntax would inflate) is parsed.
 */
import * as dicomParser from 'dicom-parser';
import { Geometry, Vec3, Volume } from './volume';
import { checkDeclaredSize, resolveLimits, VolumeError, VolumeLimits } from './volume-error';

export interface DicomSeriesOptions {
  limits?: Partial<VolumeLimits>;
  /** Allowed deviation of a slice gap from the median gap, mm (default 0.01 mm, or 0.1 % of the gap if larger). */
  sliceTolerance?: number;
  /** Names of the files, for messages (same order as the buffers). */
  names?: string[];
}

const UNCOMPRESSED: Record<string, string> = { '1.2.840.10008.1.2': 'implicit VR little endian', '1.2.840.10008.1.2.1': 'explicit VR little endian' };

interface Slice {
  name: string;
  position: Vec3;
  along: number;
  rows: number;
  columns: number;
  pixelSpacing: [number, number];
  orientation: number[];
  series: string;
  pixels: Int32Array;
  slope: number;
  intercept: number;
}

export function readDicomSeries(label: string, files: Uint8Array[], options: DicomSeriesOptions = {}): Volume {
  const limits = resolveLimits(options.limits);
  if (files.length === 0) throw new VolumeError('not_a_volume', `${label}: no DICOM files`);
  // Per-file messages name the series and the file: "ct-series/slice-3.dcm".
  const names = files.map((_, n) => `${label}/${options.names?.[n] ?? `[${n}]`}`);
  const first = readHeaderOnly(names[0]!, files[0]!);
  checkDeclaredSize(label, first.rows * first.columns * files.length, 2, limits);
  const slices = files.map((bytes, n) => readSlice(names[n]!, bytes));
  const ref = slices[0]!;
  for (const s of slices) {
    const differs = (what: string, a: unknown, b: unknown): VolumeError =>
      new VolumeError('geometry_mismatch', `${label}: ${s.name} has ${what} ${JSON.stringify(a)}, ${ref.name} has ${JSON.stringify(b)}; a series must share it`);
    if (s.series !== ref.series) throw differs('SeriesInstanceUID', s.series, ref.series);
    if (s.rows !== ref.rows || s.columns !== ref.columns) throw differs('Rows×Columns', [s.rows, s.columns], [ref.rows, ref.columns]);
    if (s.pixelSpacing.some((v, c) => Math.abs(v - ref.pixelSpacing[c]!) > 1e-6)) throw differs('PixelSpacing', s.pixelSpacing, ref.pixelSpacing);
    if (s.orientation.some((v, c) => Math.abs(v - ref.orientation[c]!) > 1e-4)) throw differs('ImageOrientationPatient', s.orientation, ref.orientation);
  }
  const [row, col] = [unit(label, ref.orientation.slice(0, 3)), unit(label, ref.orientation.slice(3, 6))];
  if (Math.abs(dot(row, col)) > 1e-4) throw new VolumeError('not_a_volume', `${label}: ImageOrientationPatient row and column cosines are not orthogonal`);
  const normal = cross(row, col);
  for (const s of slices) s.along = dot(s.position, normal);
  slices.sort((a, b) => a.along - b.along);
  const gap = sliceGap(label, slices, normal, options.sliceTolerance ?? 0.01);
  const frame = ref.rows * ref.columns;
  const geometry: Geometry = {
    dims: [ref.columns, ref.rows, slices.length],
    // PixelSpacing is (between rows, between columns): i runs along a row, so its spacing is the second value.
    spacing: [ref.pixelSpacing[1], ref.pixelSpacing[0], gap],
    origin: slices[0]!.position,
    direction: [row[0], col[0], normal[0], row[1], col[1], normal[1], row[2], col[2], normal[2]],
  };
  return { ...geometry, data: rescale(slices, frame) };
}

/** Reads the meta header and refuses a compressed transfer syntax before the data set is parsed. */
function readHeaderOnly(name: string, bytes: Uint8Array): { rows: number; columns: number } {
  const ds = parse(name, bytes, 'x7fe00010');
  return { rows: ds.uint16('x00280010') ?? 0, columns: ds.uint16('x00280011') ?? 0 };
}

function parse(name: string, bytes: Uint8Array, untilTag?: string): dicomParser.DataSet {
  let meta: dicomParser.DataSet;
  try {
    meta = dicomParser.readPart10Header(bytes);
  } catch (error) {
    const e = error as { exception?: unknown; message?: unknown };
    throw new VolumeError('not_a_volume', `${name}: not a DICOM Part-10 file (${String(e.exception ?? e.message ?? error)})`);
  }
  const syntax = (meta.string('x00020010') ?? '').replace(/\0/g, '').trim();
  if (UNCOMPRESSED[syntax] === undefined) {
    throw new VolumeError('unsupported', `${name}: DICOM transfer syntax ${syntax || '(missing)'} is not supported; only uncompressed little endian (1.2.840.10008.1.2, 1.2.840.10008.1.2.1) is read`);
  }
  try {
    return dicomParser.parseDicom(bytes, untilTag ? { untilTag } : undefined);
  } catch (error) {
    // dicom-parser throws {exception, dataSet} objects as well as Errors.
    const e = error as { exception?: unknown; message?: unknown };
    const message = String(e.exception ?? e.message ?? error);
    throw new VolumeError(/overrun|past end|end of buffer/i.test(message) ? 'truncated' : 'not_a_volume', `${name}: the DICOM data set cannot be parsed (${message})`);
  }
}

function readSlice(name: string, bytes: Uint8Array): Slice {
  const ds = parse(name, bytes);
  const need = (tag: string, what: string, count: number): number[] => {
    const values = Array.from({ length: count }, (_, n) => ds.floatString(tag, n));
    if (values.some((v) => v === undefined || !Number.isFinite(v))) throw new VolumeError('not_a_volume', `${name}: ${what} (${tag}) missing or not ${count} numbers`);
    return values as number[];
  };
  const rows = ds.uint16('x00280010') ?? 0;
  const columns = ds.uint16('x00280011') ?? 0;
  const bits = ds.uint16('x00280100');
  const stored = ds.uint16('x00280101') ?? bits ?? 0;
  const signed = ds.uint16('x00280103') === 1;
  const samples = ds.uint16('x00280002') ?? 1;
  const frames = ds.intString('x00280008') ?? 1;
  if (rows < 1 || columns < 1) throw new VolumeError('not_a_volume', `${name}: Rows/Columns missing`);
  if (bits !== 8 && bits !== 16) throw new VolumeError('unsupported', `${name}: BitsAllocated ${bits}; only 8 and 16 are read`);
  if (samples !== 1 || frames !== 1) throw new VolumeError('unsupported', `${name}: ${samples} samples per pixel, ${frames} frames; only single-frame greyscale slices are read`);
  const element = ds.elements['x7fe00010'];
  if (!element) throw new VolumeError('not_a_volume', `${name}: no PixelData`);
  if (element.encapsulatedPixelData) throw new VolumeError('unsupported', `${name}: encapsulated (compressed) PixelData`);
  const bytesPer = bits / 8;
  const need_ = rows * columns * bytesPer;
  if (element.dataOffset + need_ > bytes.length || element.length < need_) {
    throw new VolumeError('truncated', `${name}: truncated: PixelData needs ${need_} bytes, ${Math.min(element.length, bytes.length - element.dataOffset)} present`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + element.dataOffset, need_);
  const pixels = new Int32Array(rows * columns);
  const shift = 32 - Math.min(stored, bits);
  for (let p = 0; p < pixels.length; p++) {
    const raw = bits === 16 ? view.getUint16(2 * p, true) : view.getUint8(p);
    // Bits above BitsStored are undefined (DICOM PS3.5 8.1.1): mask them, sign-extending from the stored high bit.
    pixels[p] = signed ? (raw << shift) >> shift : (raw << shift) >>> shift;
  }
  const spacing = need('x00280030', 'PixelSpacing', 2);
  if (!spacing.every((s) => s > 0)) throw new VolumeError('not_a_volume', `${name}: PixelSpacing ${spacing.join('\\')} must be positive`);
  const position = need('x00200032', 'ImagePositionPatient', 3);
  return {
    name,
    position: [position[0]!, position[1]!, position[2]!],
    along: 0,
    rows,
    columns,
    pixelSpacing: [spacing[0]!, spacing[1]!],
    orientation: need('x00200037', 'ImageOrientationPatient', 6),
    series: (ds.string('x0020000e') ?? '').trim(),
    pixels,
    slope: ds.floatString('x00281053') ?? 1,
    intercept: ds.floatString('x00281052') ?? 0,
  };
}

/** The slice gap from sorted positions; refuses duplicates, missing slices, uneven gaps and slices off the normal. */
function sliceGap(label: string, slices: Slice[], normal: Vec3, tolerance: number): number {
  const p0 = slices[0]!.position;
  for (const s of slices) {
    const d = s.position.map((v, c) => v - p0[c]!);
    const off = Math.hypot(...d.map((v, c) => v - dot(d as Vec3, normal) * normal[c]!));
    if (off > Math.max(tolerance, 1e-3)) throw new VolumeError('geometry_mismatch', `${label}: ${s.name} lies ${off.toFixed(3)} mm off the slice normal through ${slices[0]!.name} (gantry tilt or mixed stacks)`);
  }
  if (slices.length === 1) return 1;
  const gaps = slices.slice(1).map((s, n) => s.along - slices[n]!.along);
  const median = [...gaps].sort((a, b) => a - b)[Math.floor((gaps.length - 1) / 2)]!;
  const tol = Math.max(tolerance, 1e-3 * median);
  gaps.forEach((g, n) => {
    const [a, b] = [slices[n]!, slices[n + 1]!];
    if (g <= tol) throw new VolumeError('geometry_mismatch', `${label}: ${a.name} and ${b.name} have the same position (${b.along.toFixed(3)} mm along the normal): duplicate slice`);
    if (Math.abs(g - median) > tol) {
      const missing = Math.round(g / median) - 1;
      const what = missing >= 1 && Math.abs(g - (missing + 1) * median) <= tol ? `${missing} missing slice(s)` : 'non-uniform slice spacing';
      throw new VolumeError('geometry_mismatch', `${label}: gap of ${g.toFixed(4)} mm between ${a.name} and ${b.name}, the others are ${median.toFixed(4)} mm: ${what}`);
    }
  });
  // The mean gap (first to last over n−1) is the grid spacing that puts every slice within tolerance of its place.
  return (slices[slices.length - 1]!.along - slices[0]!.along) / (slices.length - 1);
}

/** Stored values × RescaleSlope + RescaleIntercept per slice; integer results stay integers (Int16 when they fit). */
function rescale(slices: Slice[], frame: number): Int16Array | Int32Array | Float32Array {
  const integer = slices.every((s) => Number.isInteger(s.slope) && Number.isInteger(s.intercept));
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of slices) {
    for (const v of s.pixels) {
      const x = v * s.slope + s.intercept;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  const out = !integer ? new Float32Array(frame * slices.length) : lo >= -32768 && hi <= 32767 ? new Int16Array(frame * slices.length) : new Int32Array(frame * slices.length);
  slices.forEach((s, k) => {
    for (let p = 0; p < frame; p++) out[k * frame + p] = s.pixels[p]! * s.slope + s.intercept;
  });
  return out;
}

const dot = (a: readonly number[], b: readonly number[]): number => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
function unit(label: string, v: number[]): Vec3 {
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  if (!(Math.abs(n - 1) < 1e-3)) throw new VolumeError('not_a_volume', `${label}: ImageOrientationPatient cosines [${v.join(', ')}] are not unit vectors`);
  return [v[0]! / n, v[1]! / n, v[2]! / n];
}
