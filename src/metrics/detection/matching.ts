// Lesion-level matching of point detections to reference lesions (METRICS.md §3.1, LUNA16 rule).
import { MetricInputError } from '../metrics.errors';

export interface ReferenceLesion {
  readonly lesionId: string;
  /** Lesion centre, world mm (LPS; any fixed world frame shared with the detections works). */
  readonly x: number;
  readonly y: number;
  readonly z: number;
  readonly diameterMm: number;
}

export interface PointDetection {
  readonly x: number;
  readonly y: number;
  readonly z: number;
  readonly score: number;
}

/** What one scan contributes to every detection aggregate: enough to store and recompute FROC, CPM and CIs. */
export interface ScanMatch {
  /** Per reference lesion (input order): the max score of the detections hitting it, or null = missed. */
  readonly lesionScores: (number | null)[];
  /** Scores of the detections that hit no lesion (input order). */
  readonly fpScores: number[];
  /** Hits beyond the first on a lesion: neither TP nor FP (LUNA16 "double detections ignored"). */
  readonly extraHits: number;
}

export const LUNA16_HIT_METHOD =
  'LUNA16 hit rule (noduleCADEvaluationLUNA16.py evaluateCAD): a detection hits a lesion iff ' +
  '(Δx²+Δy²+Δz²) < (d/2)² in world mm (strict <, so a point exactly on the sphere misses); a lesion is detected with the ' +
  'max score of its hits; further hits on it are ignored (neither TP nor FP); a detection inside two lesions counts for both; ' +
  'detections hitting no lesion are false positives';

function checkFinite(value: number, what: string): void {
  if (!Number.isFinite(value)) throw new MetricInputError('METRIC_NON_FINITE_SCORE', `${what} is ${String(value)}, expected a finite number`);
}

/**
 * The LUNA16 rule for one scan. Every lesion is tested against every detection (not a greedy one-to-one assignment),
 * exactly as the LUNA16 script loops over all candidates for each nodule: so a detection inside two overlapping
 * lesions is a hit on both (the script prints "CAD mark detected two nodules" and keeps both). The LUNA16 default of
 * 10 mm for a negative diameter is not applied: a diameter must be positive here (the truth parser enforces it).
 */
export function matchScanLuna16(lesions: readonly ReferenceLesion[], detections: readonly PointDetection[]): ScanMatch {
  const radius2 = lesions.map((l, i) => {
    checkFinite(l.x, `lesion ${i} x`);
    checkFinite(l.y, `lesion ${i} y`);
    checkFinite(l.z, `lesion ${i} z`);
    if (!(l.diameterMm > 0) || !Number.isFinite(l.diameterMm)) {
      throw new MetricInputError('METRIC_BAD_PARAMETER', `lesion "${l.lesionId}" diameter ${l.diameterMm} mm is not a positive finite number`);
    }
    const r = l.diameterMm / 2;
    return r * r;
  });
  const hitAny = new Uint8Array(detections.length);
  const lesionScores: (number | null)[] = [];
  let extraHits = 0;
  for (let d = 0; d < detections.length; d++) {
    const c = detections[d] as PointDetection;
    checkFinite(c.x, `detection ${d} x`);
    checkFinite(c.y, `detection ${d} y`);
    checkFinite(c.z, `detection ${d} z`);
    checkFinite(c.score, `detection ${d} score`);
  }
  for (let i = 0; i < lesions.length; i++) {
    const l = lesions[i] as ReferenceLesion;
    let best: number | null = null;
    let hits = 0;
    for (let d = 0; d < detections.length; d++) {
      const c = detections[d] as PointDetection;
      // Same operand order as the script: (x - x2)² + (y - y2)² + (z - z2)², summed left to right.
      const dx = l.x - c.x;
      const dy = l.y - c.y;
      const dz = l.z - c.z;
      if (dx * dx + dy * dy + dz * dz < (radius2[i] as number)) {
        hits++;
        hitAny[d] = 1;
        if (best === null || c.score > best) best = c.score;
      }
    }
    if (hits > 1) extraHits += hits - 1;
    lesionScores.push(best);
  }
  const fpScores: number[] = [];
  for (let d = 0; d < detections.length; d++) if (hitAny[d] === 0) fpScores.push((detections[d] as PointDetection).score);
  return { lesionScores, fpScores, extraHits };
}
