import { VoxelArray } from './volume';

/** The element types every reader can return (the VoxelArray constructors). */
export type VoxelType = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

export const BYTES_PER_VOXEL: Record<VoxelType, number> = { uint8: 1, int8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, float64: 8 };

const CONSTRUCTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

export function allocateVoxels(type: VoxelType, count: number): VoxelArray {
  return new CONSTRUCTORS[type](count);
}

/**
 * Copies `count` voxels of `type` from `bytes` (at `offset`) into a fresh, aligned typed array in host order.
 * A copy, not a view: file buffers are rarely aligned for the element size and may be big-endian.
 */
export function decodeVoxels(bytes: Uint8Array, offset: number, count: number, type: VoxelType, littleEndian: boolean): VoxelArray {
  const size = BYTES_PER_VOXEL[type];
  const out = allocateVoxels(type, count);
  const target = new Uint8Array(out.buffer, out.byteOffset, count * size);
  target.set(bytes.subarray(offset, offset + count * size));
  // Every supported host (x86, arm64) is little-endian; swap when the file is not.
  if (!littleEndian && size > 1) {
    for (let v = 0; v < target.length; v += size) target.subarray(v, v + size).reverse();
  }
  return out;
}

/** value·slope + intercept, in float32 unless the source needs float64 to stay exact (float64, 32-bit integers). */
export function applyLinearScale(data: VoxelArray, type: VoxelType, slope: number, intercept: number): VoxelArray {
  const wide = type === 'float64' || type === 'int32' || type === 'uint32';
  const out = wide ? new Float64Array(data.length) : new Float32Array(data.length);
  for (let v = 0; v < data.length; v++) out[v] = (data[v] as number) * slope + intercept;
  return out;
}
