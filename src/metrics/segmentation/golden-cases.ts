// Reader of test/golden/surface-goldens.json (written by test/golden/make-surface-goldens.py from DeepMind's code):
// masks as run lengths or boxes in Assay's layout (i fastest), numbers with ±Infinity/NaN as strings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_DIRECTION, type Vec3, type Volume } from '../../volumes/volume';

export type GoldenNumber = number | 'Infinity' | '-Infinity' | 'NaN';

export interface GoldenMask {
  readonly rle?: number[];
  readonly boxes?: number[][];
}

export interface GoldenCase {
  readonly name: string;
  readonly note: string;
  readonly dims: Vec3;
  readonly spacing: Vec3;
  readonly toleranceMm: number;
  readonly reference: GoldenMask;
  readonly prediction: GoldenMask;
  readonly componentsReference: number;
  readonly componentsPrediction: number;
  readonly deepmind: Record<string, GoldenNumber | GoldenNumber[] | unknown> & {
    readonly arrays?: Record<'distances_gt_to_pred' | 'distances_pred_to_gt' | 'surfel_areas_gt' | 'surfel_areas_pred', GoldenNumber[]>;
    readonly pairHistogram?: { gt: [GoldenNumber, GoldenNumber, number][]; pred: [GoldenNumber, GoldenNumber, number][] };
  };
}

export interface SurfaceGoldens {
  readonly generator: Record<string, string>;
  readonly areaTables: { spacing: Vec3; areas: number[] }[];
  readonly toyPercentile: { distances: number[]; hd95: number };
  readonly cases: GoldenCase[];
}

export function loadSurfaceGoldens(): SurfaceGoldens {
  return JSON.parse(readFileSync(join(__dirname, '../../../test/golden/surface-goldens.json'), 'utf8')) as SurfaceGoldens;
}

export function num(x: GoldenNumber): number {
  return typeof x === 'number' ? x : Number(x);
}

export function decodeMask(mask: GoldenMask, dims: Vec3): Uint8Array {
  const out = new Uint8Array(dims[0] * dims[1] * dims[2]);
  if (mask.rle) {
    let at = 0;
    mask.rle.forEach((run, r) => {
      if (r % 2 === 1) out.fill(1, at, at + run);
      at += run;
    });
  }
  for (const [i0, i1, j0, j1, k0, k1] of (mask.boxes ?? []) as [number, number, number, number, number, number][]) {
    for (let k = k0; k < k1; k++) for (let j = j0; j < j1; j++) out.fill(1, i0 + dims[0] * (j + dims[1] * k), i1 + dims[0] * (j + dims[1] * k));
  }
  return out;
}

export function goldenVolume(data: Uint8Array, c: Pick<GoldenCase, 'dims' | 'spacing'>): Volume {
  return { dims: c.dims, spacing: c.spacing, origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}
