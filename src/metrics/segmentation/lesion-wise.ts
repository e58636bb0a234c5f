// Lesion-wise (instance) scores for multi-focal disease (METRICS.md §2.7): connected components of reference and
// prediction (26-connectivity), matched one-to-one, DSC/NSD/HD95 per matched pair; a missed reference lesion (FN) or a
// false predicted lesion (FP) scores DSC = NSD = 0 and HD95 = the worst distance (the reference grid's physical
// diagonal). Reported apart from the case-wise scores.
//
// Matching (documented, printed in the method string): candidate pairs are the (reference, predicted) components
// that overlap with IoU ≥ 0.1; pairs are taken greedily in order of decreasing IoU (ties: lower reference label, then
// lower predicted label), each component in at most one pair.
import { type Vec3, type Volume, physicalDiagonal } from '../../volumes/volume';
import { surfaceMetrics } from './segmentation-metrics';
import { computeSurfaceDistances } from './surface-distances';

export const LESION_MATCH_IOU = 0.1;
export const LESION_MATCHING_METHOD =
  `connected components with 26-connectivity; one-to-one greedy matching by decreasing IoU among pairs with IoU ≥ ${LESION_MATCH_IOU} ` +
  '(ties: lower reference then lower predicted component label); FN and FP lesions score DSC = NSD = 0, HD95 = physical diagonal of the reference grid';

export interface Components {
  /** Component label per voxel, 0 = background, 1..count in order of first voxel (i fastest). */
  readonly labels: Int32Array;
  readonly count: number;
  /** Voxel count of component c at index c − 1. */
  readonly sizes: Int32Array;
  /** Every foreground voxel's index, component by component (component c from starts[c − 1], sizes[c − 1] long). */
  readonly voxels: Int32Array;
  readonly starts: Int32Array;
}

/**
 * Connected components of the foreground (non-zero, or == label), 26-connectivity, by breadth-first search with an
 * explicit typed-array queue (no recursion, so a large organ cannot overflow the stack).
 */
export function connectedComponents(data: ArrayLike<number>, dims: Vec3, label?: number): Components {
  const [n0, n1, n2] = dims;
  const plane = n0 * n1;
  const n = plane * n2;
  const labels = new Int32Array(n);
  const queue = new Int32Array(n);
  const sizes: number[] = [];
  const starts: number[] = [];
  // The queue is not reset between components, so it ends as the list of every foreground voxel by component, and
  // matching and pair masks visit those instead of every voxel of the grid (on this machine the first read of a fresh
  // 32 MB label array costs ~170 ms of page faults; a 256×256×128 mask is nearly all background).
  let tail = 0;
  // The foreground test inline on both paths (no closure per voxel): most of a 256×256×128 mask is background, and
  // the scan over it was most of the lesion-wise time.
  const any = label === undefined;
  const want = label ?? 0;
  let count = 0;
  for (let start = 0; start < n; start++) {
    const v = data[start] as number;
    if ((any ? v === 0 : v !== want) || labels[start] !== 0) continue;
    count++;
    labels[start] = count;
    const first = tail;
    let head = tail;
    queue[tail++] = start;
    while (head < tail) {
      const p = queue[head++] as number;
      const k = (p / plane) | 0;
      const rest = p - k * plane;
      const j = (rest / n0) | 0;
      const i = rest - j * n0;
      for (let dk = -1; dk <= 1; dk++) {
        const kk = k + dk;
        if (kk < 0 || kk >= n2) continue;
        for (let dj = -1; dj <= 1; dj++) {
          const jj = j + dj;
          if (jj < 0 || jj >= n1) continue;
          const row = n0 * (jj + n1 * kk);
          for (let di = -1; di <= 1; di++) {
            const ii = i + di;
            if (ii < 0 || ii >= n0) continue;
            const o = ii + row;
            if (labels[o] !== 0) continue;
            const w = data[o] as number;
            if (any ? w === 0 : w !== want) continue;
            labels[o] = count;
            queue[tail++] = o;
          }
        }
      }
    }
    starts.push(first);
    sizes.push(tail - first);
  }
  return { labels, count, sizes: Int32Array.from(sizes), voxels: queue.subarray(0, tail), starts: Int32Array.from(starts) };
}

export interface LesionPairScore {
  /** Reference component label, or null for a false-positive lesion. */
  readonly reference: number | null;
  /** Predicted component label, or null for a missed lesion. */
  readonly prediction: number | null;
  readonly kind: 'matched' | 'fn' | 'fp';
  readonly iou: number;
  readonly dice: number;
  readonly nsd: number;
  readonly hd95: number;
}

export interface LesionWiseCase {
  readonly referenceLesions: number;
  readonly predictedLesions: number;
  readonly tp: number;
  readonly fn: number;
  readonly fp: number;
  readonly lesions: LesionPairScore[];
  /** Mean over this case's lesions (matched + FN + FP); null when the case has no lesion on either side. */
  readonly meanDice: number | null;
  readonly meanNsd: number | null;
  readonly meanHd95: number | null;
}

/** Greedy one-to-one matching by decreasing IoU ≥ threshold. Returns [reference, prediction, iou] triples. */
export function matchComponents(ref: Components, pred: Components, threshold = LESION_MATCH_IOU): [number, number, number][] {
  const overlap = new Map<number, number>();
  const stride = pred.count + 1;
  // Only the reference's foreground voxels can overlap (the candidates are sorted below, so visiting them by
  // component rather than in grid order changes nothing).
  const refLabels = ref.labels;
  const predLabels = pred.labels;
  const voxels = ref.voxels;
  for (let v = 0; v < voxels.length; v++) {
    const p = voxels[v] as number;
    const r = refLabels[p] as number;
    const q = predLabels[p] as number;
    if (q === 0) continue;
    const key = r * stride + q;
    overlap.set(key, (overlap.get(key) ?? 0) + 1);
  }
  const candidates: [number, number, number][] = [];
  for (const [key, inter] of overlap) {
    const r = Math.floor(key / stride);
    const q = key % stride;
    const iou = inter / ((ref.sizes[r - 1] as number) + (pred.sizes[q - 1] as number) - inter);
    if (iou >= threshold) candidates.push([r, q, iou]);
  }
  candidates.sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
  const usedR = new Set<number>();
  const usedP = new Set<number>();
  const out: [number, number, number][] = [];
  for (const c of candidates) {
    if (usedR.has(c[0]) || usedP.has(c[1])) continue;
    usedR.add(c[0]);
    usedP.add(c[1]);
    out.push(c);
  }
  return out;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Two components as masks on their union's bounding box (with the original spacing). */
function pairMasks(ref: Components, r: number, pred: Components, q: number, dims: Vec3): { dims: Vec3; a: Uint8Array; b: Uint8Array } {
  const [n0, n1, n2] = dims;
  const plane = n0 * n1;
  const min = [n0, n1, n2];
  const max = [-1, -1, -1];
  // The bounding box and the masks from the two components' voxel lists (never a scan of the whole grid).
  const each = (c: Components, label: number, visit: (p: number, i: number, j: number, k: number) => void): void => {
    const from = c.starts[label - 1] as number;
    const to = from + (c.sizes[label - 1] as number);
    for (let v = from; v < to; v++) {
      const p = c.voxels[v] as number;
      const k = (p / plane) | 0;
      const rest = p - k * plane;
      const j = (rest / n0) | 0;
      visit(p, rest - j * n0, j, k);
    }
  };
  const grow = (_p: number, i: number, j: number, k: number): void => {
    const c = [i, j, k];
    for (let a = 0; a < 3; a++) {
      if ((c[a] as number) < (min[a] as number)) min[a] = c[a] as number;
      if ((c[a] as number) > (max[a] as number)) max[a] = c[a] as number;
    }
  };
  each(ref, r, grow);
  each(pred, q, grow);
  const d: Vec3 = [(max[0] as number) - (min[0] as number) + 1, (max[1] as number) - (min[1] as number) + 1, (max[2] as number) - (min[2] as number) + 1];
  const a = new Uint8Array(d[0] * d[1] * d[2]);
  const b = new Uint8Array(a.length);
  const at = (i: number, j: number, k: number): number => i - (min[0] as number) + d[0] * (j - (min[1] as number) + d[1] * (k - (min[2] as number)));
  each(ref, r, (_p, i, j, k) => void (a[at(i, j, k)] = 1));
  each(pred, q, (_p, i, j, k) => void (b[at(i, j, k)] = 1));
  return { dims: d, a, b };
}

/** Lesion-wise scores of one case (reference and prediction on the same grid; the caller checks that). */
export function lesionWiseCase(reference: Volume, prediction: Volume, options: { readonly toleranceMm: number; readonly label?: number }): LesionWiseCase {
  const worst = physicalDiagonal(reference);
  const ref = connectedComponents(reference.data, reference.dims, options.label);
  const pred = connectedComponents(prediction.data, prediction.dims, options.label);
  const matches = matchComponents(ref, pred);
  const lesions: LesionPairScore[] = [];
  for (const [r, q, iou] of matches) {
    const pm = pairMasks(ref, r, pred, q, reference.dims);
    let inter = 0;
    for (let o = 0; o < pm.a.length; o++) if (pm.a[o] === 1 && pm.b[o] === 1) inter++;
    const dice = (2 * inter) / ((ref.sizes[r - 1] as number) + (pred.sizes[q - 1] as number));
    const sd = computeSurfaceDistances({ dims: pm.dims, data: pm.a }, { dims: pm.dims, data: pm.b }, reference.spacing);
    const m = surfaceMetrics(sd, options.toleranceMm);
    lesions.push({ reference: r, prediction: q, kind: 'matched', iou, dice, nsd: m.nsd, hd95: m.hd95 });
  }
  const matchedR = new Set(matches.map((m) => m[0]));
  const matchedP = new Set(matches.map((m) => m[1]));
  for (let r = 1; r <= ref.count; r++) {
    if (!matchedR.has(r)) lesions.push({ reference: r, prediction: null, kind: 'fn', iou: 0, dice: 0, nsd: 0, hd95: worst });
  }
  for (let q = 1; q <= pred.count; q++) {
    if (!matchedP.has(q)) lesions.push({ reference: null, prediction: q, kind: 'fp', iou: 0, dice: 0, nsd: 0, hd95: worst });
  }
  return {
    referenceLesions: ref.count,
    predictedLesions: pred.count,
    tp: matches.length,
    fn: ref.count - matches.length,
    fp: pred.count - matches.length,
    lesions,
    meanDice: mean(lesions.map((l) => l.dice)),
    meanNsd: mean(lesions.map((l) => l.nsd)),
    meanHd95: mean(lesions.map((l) => l.hd95)),
  };
}
