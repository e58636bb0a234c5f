/**
 * MetaImage reader (.mha with the voxels after the header, .mhd with a separate raw file), written here because npm
 * has no maintained pure-JS MetaImage reader: the one well-kept option, @itk-wasm/image-io, runs ITK in WebAssembly
 * (tens of MB of .wasm, asynchronous, a worker pool) for what is a text header and a block of bytes.
 *
 * Geometry follows ITK's MetaImageIO (checked with plastimatch in test/fixtures/volumes/make-volume-fixtures.py):
 * TransformMatrix lists the direction of axis 0 first, then axis 1, … (element [c·N + r] is direction row r, column c).
 * MetaImage is LPS already.
 */
import { inflateSync, unzipSync } from 'node:zlib';
import { checkOrthonormal } from './geometry';
import { Geometry, IDENTITY_DIRECTION, Vec3, Volume } from './volume';
import { checkDeclaredSize, resolveLimits, VolumeError, VolumeLimits } from './volume-error';
import { BYTES_PER_VOXEL, decodeVoxels, VoxelType } from './voxel-buffer';

export interface MetaImageReadOptions {
  limits?: Partial<VolumeLimits>;
  /** The bytes of a file named by ElementDataFile, next to the header; undefined when there is none. */
  readSibling?: (fileName: string) => Uint8Array | undefined;
}

const ELEMENT_TYPES: Record<string, VoxelType> = {
  MET_UCHAR: 'uint8',
  MET_CHAR: 'int8',
  MET_SHORT: 'int16',
  MET_USHORT: 'uint16',
  MET_INT: 'int32',
  MET_UINT: 'uint32',
  MET_FLOAT: 'float32',
  MET_DOUBLE: 'float64',
};

/** A header is text; one longer than this is not a MetaImage header. */
const MAX_HEADER_BYTES = 64 * 1024;
const KEY_LINE = /^\s*([A-Za-z_][\w[\]]*)\s*=\s*(.*?)\s*$/;

/** Whether the bytes start like a MetaImage header: "Key = value" lines, one of them ObjectType or NDims. */
export function looksLikeMetaImage(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 4096)).toString('latin1');
  let keyed = false;
  // Only the header lines count: in a .mha the voxels follow the ElementDataFile line.
  for (const line of head.split('\n').slice(0, -1)) {
    if (line.trim() === '') continue;
    const m = KEY_LINE.exec(line.replace(/\r$/, ''));
    if (!m) return false;
    keyed ||= /^(ObjectType|NDims)$/i.test(m[1]!);
    if (/^ElementDataFile$/i.test(m[1]!)) break;
  }
  return keyed;
}

interface Header {
  fields: Map<string, string>;
  /** Where the bytes after the ElementDataFile line begin (the voxels of a LOCAL file). */
  dataStart: number;
}

function parseHeader(name: string, bytes: Uint8Array): Header {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < Math.min(bytes.length, MAX_HEADER_BYTES)) {
    let end = bytes.indexOf(0x0a, at);
    if (end < 0) end = bytes.length;
    const line = Buffer.from(bytes.subarray(at, end)).toString('latin1').replace(/\r$/, '');
    at = end + 1;
    if (line.trim() === '') continue;
    const m = KEY_LINE.exec(line);
    if (!m) throw new VolumeError('not_a_volume', `${name}: MetaImage header line "${line.slice(0, 60)}" is not "Key = value"`);
    const key = m[1]!.toLowerCase();
    fields.set(key, m[2]!);
    // ElementDataFile ends the header (MetaIO); in a .mha the voxels follow the newline.
    if (key === 'elementdatafile') return { fields, dataStart: Math.min(at, bytes.length) };
  }
  throw new VolumeError(bytes.length < MAX_HEADER_BYTES ? 'truncated' : 'not_a_volume', `${name}: MetaImage header has no ElementDataFile line`);
}

function numbers(name: string, h: Header, keys: string[], count: number, fallback?: number[]): number[] {
  const key = keys.find((k) => h.fields.has(k.toLowerCase()));
  if (key === undefined) {
    if (fallback) return fallback;
    throw new VolumeError('not_a_volume', `${name}: MetaImage header has no ${keys[0]}`);
  }
  const values = h.fields.get(key.toLowerCase())!.split(/\s+/).map(Number);
  if (values.length < count || values.slice(0, count).some((v) => !Number.isFinite(v))) {
    throw new VolumeError('not_a_volume', `${name}: ${key} must hold ${count} numbers, got "${h.fields.get(key.toLowerCase())}"`);
  }
  return values.slice(0, count);
}

const isTrue = (value: string | undefined): boolean => /^true$/i.test(value ?? '');

export function readMetaImage(name: string, bytes: Uint8Array, options: MetaImageReadOptions = {}): Volume {
  const limits = resolveLimits(options.limits);
  const h = parseHeader(name, bytes);
  const objectType = h.fields.get('objecttype');
  if (objectType !== undefined && !/^image$/i.test(objectType)) throw new VolumeError('unsupported', `${name}: MetaImage ObjectType ${objectType} is not Image`);
  const [ndims] = numbers(name, h, ['NDims'], 1);
  if (ndims !== 2 && ndims !== 3) throw new VolumeError('unsupported', `${name}: MetaImage NDims ${ndims}; only 2 and 3 are read`);
  const n = ndims;
  const channels = numbers(name, h, ['ElementNumberOfChannels'], 1, [1])[0];
  if (channels !== 1) throw new VolumeError('unsupported', `${name}: ElementNumberOfChannels ${channels}; only single-channel images are read`);
  const typeName = (h.fields.get('elementtype') ?? '').toUpperCase();
  const type = ELEMENT_TYPES[typeName];
  if (type === undefined) throw new VolumeError('unsupported', `${name}: ElementType "${typeName}" is not supported (${Object.keys(ELEMENT_TYPES).join(', ')} are)`);
  const size = numbers(name, h, ['DimSize'], n);
  if (!size.every((s) => Number.isSafeInteger(s) && s >= 1)) throw new VolumeError('not_a_volume', `${name}: DimSize ${size.join(' ')} is not positive integers`);
  const dims: Vec3 = [size[0]!, size[1]!, n === 3 ? size[2]! : 1];
  const voxels = dims[0] * dims[1] * dims[2];
  checkDeclaredSize(name, voxels, BYTES_PER_VOXEL[type], limits);

  const spacing = numbers(name, h, ['ElementSpacing', 'ElementSize'], n, new Array(n).fill(1));
  if (!spacing.every((s) => s > 0)) throw new VolumeError('not_a_volume', `${name}: ElementSpacing ${spacing.join(' ')} must be positive`);
  const origin = numbers(name, h, ['Offset', 'Origin', 'Position'], n, new Array(n).fill(0));
  const matrix = numbers(name, h, ['TransformMatrix', 'Rotation', 'Orientation'], n * n, n === 3 ? [...IDENTITY_DIRECTION] : [1, 0, 0, 1]);
  const direction = [...IDENTITY_DIRECTION];
  for (let c = 0; c < n; c++) {
    const norm = Math.hypot(...matrix.slice(c * n, c * n + n));
    if (!(norm > 0)) throw new VolumeError('not_a_volume', `${name}: TransformMatrix axis ${c} is zero`);
    for (let r = 0; r < n; r++) direction[3 * r + c] = matrix[c * n + r]! / norm;
  }
  checkOrthonormal(name, direction);
  const geometry: Geometry = {
    dims,
    spacing: [spacing[0]!, spacing[1]!, n === 3 ? spacing[2]! : 1],
    origin: [origin[0]!, origin[1]!, n === 3 ? origin[2]! : 0],
    direction: direction as Geometry['direction'],
  };

  const littleEndian = !isTrue(h.fields.get('binarydatabyteordermsb') ?? h.fields.get('elementbyteordermsb'));
  const expected = voxels * BYTES_PER_VOXEL[type];
  const raw = voxelBytes(name, h, bytes, expected, options);
  if (raw.length < expected) throw new VolumeError('truncated', `${name}: truncated: ${expected} bytes of voxel data declared, ${raw.length} present`);
  return { ...geometry, data: decodeVoxels(raw, 0, voxels, type, littleEndian) };
}

/** The (decompressed) voxel bytes, from after the header (LOCAL) or from the sibling file ElementDataFile names. */
function voxelBytes(name: string, h: Header, bytes: Uint8Array, expected: number, options: MetaImageReadOptions): Uint8Array {
  const dataFile = h.fields.get('elementdatafile')!;
  let source: Uint8Array;
  let where = name;
  if (/^local$/i.test(dataFile)) {
    source = bytes.subarray(h.dataStart);
  } else {
    // Only a plain file name beside the header: no directories, no "..", no absolute paths, no LIST or %d patterns.
    if (!/^[\w.-]+$/.test(dataFile) || dataFile === '.' || dataFile === '..' || /^list$/i.test(dataFile)) {
      throw new VolumeError('unsupported', `${name}: ElementDataFile "${dataFile}" must be LOCAL or a file name beside the header (no paths, lists or patterns)`);
    }
    const sibling = options.readSibling?.(dataFile);
    if (sibling === undefined) throw new VolumeError('truncated', `${name}: its ElementDataFile "${dataFile}" was not provided`);
    source = sibling;
    where = dataFile;
    const headerSize = numbers(name, h, ['HeaderSize'], 1, [0])[0]!;
    // HeaderSize -1: the voxels are the last bytes of the file (MetaIO).
    if (headerSize === -1) source = source.subarray(Math.max(0, source.length - expected));
    else if (headerSize > 0) source = source.subarray(headerSize);
  }
  if (!isTrue(h.fields.get('compresseddata'))) return source;
  const declared = numbers(name, h, ['CompressedDataSize'], 1, [source.length])[0]!;
  if (declared > source.length) throw new VolumeError('truncated', `${where}: truncated: CompressedDataSize ${declared}, ${source.length} bytes present`);
  try {
    // ITK writes zlib streams; unzipSync also takes gzip. Capped at the declared voxel bytes, so a bomb stops there.
    const packed = source.subarray(0, declared);
    return packed[0] === 0x1f ? unzipSync(packed, { maxOutputLength: expected }) : inflateSync(packed, { maxOutputLength: expected });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE') throw new VolumeError('too_large', `${where}: compressed voxels inflate to more than the ${expected} bytes the header declares (a decompression bomb?)`);
    if (e.code === 'Z_BUF_ERROR') throw new VolumeError('truncated', `${where}: truncated: the compressed voxel stream ends early`);
    throw new VolumeError('not_a_volume', `${where}: corrupt compressed voxel data (${e.message})`);
  }
}
