/**
 * Why a volume was refused at ingestion, as a stable machine code plus a message that names the file and the problem
 * (STYLE.md: domain errors carry a stable string code).
 *
 * - `not_a_volume`: the bytes are none of the formats we read, or the claimed format's structure is broken
 *   (impossible dims, a header that cannot be parsed).
 * - `format_mismatch`: the content is recognisably something else than the name claims (a PNG named .nii.gz).
 * - `truncated`: fewer bytes than the header declares (cut mid-data, a gzip stream that ends early).
 * - `too_large`: over the caller's voxel or byte limits, or a compressed stream inflating beyond what it declares.
 * - `unsupported`: a valid file using a feature we do not read (datatype, 5-D, compressed DICOM transfer syntax).
 * - `geometry_mismatch`: two volumes that must share a grid do not, or a DICOM series that is not one regular grid.
 */
export type VolumeErrorCode = 'not_a_volume' | 'format_mismatch' | 'truncated' | 'too_large' | 'unsupported' | 'geometry_mismatch';

export class VolumeError extends Error {
  override readonly name = 'VolumeError';
  constructor(
    readonly code: VolumeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Caller-set ceilings, checked from the header before anything of the size it declares is allocated or inflated. */
export interface VolumeLimits {
  /** Most voxels one volume may have. */
  maxVoxels: number;
  /** Most bytes of voxel data (after decompression) one volume may need. */
  maxBytes: number;
}

export const DEFAULT_VOLUME_LIMITS: VolumeLimits = { maxVoxels: 512 * 512 * 1024, maxBytes: 1024 * 1024 * 1024 };

export function resolveLimits(limits?: Partial<VolumeLimits>): VolumeLimits {
  return { ...DEFAULT_VOLUME_LIMITS, ...limits };
}

/** Throws `too_large` when a header's declared size is over the limits; `what` names the file in the message. */
export function checkDeclaredSize(what: string, voxels: number, bytesPerVoxel: number, limits: VolumeLimits): void {
  if (!Number.isSafeInteger(voxels) || voxels > limits.maxVoxels) {
    throw new VolumeError('too_large', `${what}: declares ${voxels} voxels, over the limit of ${limits.maxVoxels}`);
  }
  const bytes = voxels * bytesPerVoxel;
  if (bytes > limits.maxBytes) {
    throw new VolumeError('too_large', `${what}: declares ${bytes} bytes of voxel data, over the limit of ${limits.maxBytes}`);
  }
}
