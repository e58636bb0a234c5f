import { segmentationCaseRow, type SegmentationCaseRow } from '../../metrics/segmentation/segmentation-report';
import { resampleNearest } from '../../volumes/geometry';
import { readVolume } from '../../volumes/read-volume';
import type { Volume } from '../../volumes/volume';

/**
 * A mask holds one label per voxel: its decoded size is capped well below a volume's (a vendor's header declaring a
 * huge float64 grid is refused before anything is inflated), enough for a 512×512×1024 uint8 mask.
 */
const MASK_LIMITS = { maxBytes: 320 * 1024 * 1024 };

export async function readMask(name: string, bytes: Buffer | Uint8Array): Promise<Volume> {
  return asUint8(readVolume({ name, bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) }, MASK_LIMITS, { labels: true }).volume);
}

/**
 * A mask stored as a wider type (a vendor's float64 mask) held as one byte per voxel once its values are seen to be
 * labels 0..255: resampling onto the reference grid allocates the mask's element type per reference voxel, so a
 * float64 mask would take 8× the memory MASK_LIMITS was set for. A value that is not such a label (NaN, 0.5, 300)
 * leaves the volume as read, for the scorer's own check to refuse it with its message.
 */
function asUint8(volume: Volume): Volume {
  const data = volume.data;
  if (data instanceof Uint8Array) return volume;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    if (!(x >= 0 && x <= 255) || x !== Math.floor(x)) return volume;
    out[i] = x;
  }
  return { ...volume, data: out };
}

/** A mask as stored (decoded by whoever scores it: decoding is about a third of the work) or already decoded. */
export type MaskSource = { readonly name: string; readonly bytes: Uint8Array } | { readonly volume: Volume };

/** One case to score. */
export interface MaskPairJob {
  readonly caseId: string;
  readonly reference: MaskSource;
  readonly predicted: MaskSource;
  readonly toleranceMm: number;
}

function decoded(source: MaskSource): Promise<Volume> {
  return 'volume' in source ? Promise.resolve(source.volume) : readMask(source.name, source.bytes);
}

export interface MaskPairOutcome {
  readonly row: SegmentationCaseRow;
  readonly resampled: boolean;
  readonly note: string;
}

/**
 * Decodes one reference/prediction pair, puts the prediction on the reference grid (nearest neighbour; the reference
 * is never resampled) and scores it. The same function runs on the calling thread and in the scoring pool's threads,
 * so where a case is scored cannot change its row.
 */
export async function scoreMaskPair(job: MaskPairJob): Promise<MaskPairOutcome> {
  const reference = await decoded(job.reference);
  const predicted = await decoded(job.predicted);
  const onGrid = resampleNearest(predicted, reference);
  const { row } = segmentationCaseRow(job.caseId, reference, onGrid.volume, { toleranceMm: job.toleranceMm });
  return { row, resampled: onGrid.resampled, note: onGrid.note };
}
