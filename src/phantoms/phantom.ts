/**
 * SYNTHETIC CT-like lesion phantoms: a deterministic, seeded generator (issue 9). Nothing here is patient data.
 *
 * What it models, all in world millimetres (LPS: +x patient left, +y posterior, +z superior) so that the anatomy does not
 * depend on the grid: an elliptic-cylinder body along z (subcutaneous fat shell, soft tissue), two lungs, a liver on
 * the patient's right, a spleen, a vertebral column and an enhanced aorta; 0–5 lesions (sphere, ellipsoid, or an
 * irregular blob = union of 3–5 rotated ellipsoids) with a design equivalent diameter of 3–40 mm and a per-lesion
 * contrast. The scanner sets the spacing, an optional oblique direction, the noise SD and a HU offset. The body's
 * in-plane size is a fraction of the in-plane field of view, so it stays inside the grid for every spacing; its z
 * extent covers the whole grid (a slab through the trunk), and the organs are placed relative to the slab.
 *
 * Image formation: tissue value per voxel centre + lesion contrast + white noise, then an in-plane [1 2 1]⊗[1 2 1]/16
 * blur (partial-volume edges and correlated noise; the pre-blur noise SD is 8/3 × the target so that the result has
 * the scanner's SD), rounded and clamped to [−1024, 3071] → int16.
 *
 * Determinism: mulberry32 streams derived from the seed, and only + − × ÷ sqrt in anything that sets a voxel.
 */
import { mulberry32 } from '../common/seeded-random';
import { Geometry, Vec3, Volume, voxelToWorld, worldToVoxel } from '../volumes/volume';
import { cbrtExact, deriveSeed, irwinHall4, randomRotation, rotationFromQuaternion, uniform } from './exact-math';
import { SCANNERS, ScannerId, ScannerProfile, scannerById, SiteId } from './scanners';

export const TISSUE_HU = { air: -1000, fat: -100, soft: 40, liver: 60, spleen: 45, lung: -850, bone: 700, vessel: 180 } as const;
export type Tissue = keyof typeof TISSUE_HU;
const TISSUES: readonly Tissue[] = ['air', 'fat', 'soft', 'liver', 'spleen', 'lung', 'bone', 'vessel'];

export type LesionShape = 'sphere' | 'ellipsoid' | 'blob';
export type Sex = 'F' | 'M';
export const AGE_BANDS = ['<50', '50-59', '60-69', '>=70'] as const;
export type AgeBand = (typeof AGE_BANDS)[number];

export const DEFAULT_SIZE: Vec3 = [128, 128, 64];
export const MIN_DESIGN_DIAMETER_MM = 3;
export const MAX_DESIGN_DIAMETER_MM = 40;
export const MAX_LESIONS = 5;

export interface PhantomSpec {
  /** Grid size (i, j, k); default 128 × 128 × 64. */
  readonly size?: Vec3;
  readonly scanner?: ScannerId;
  /** 0–5; drawn when absent (0 with probability 1/6, else 1–5). */
  readonly lesionCount?: number;
  readonly sex?: Sex;
  readonly ageBand?: AgeBand;
}

export interface PhantomLesion {
  /** L1, L2, … within the case. */
  readonly lesionId: string;
  /** Centre of mass of the lesion's voxelised mask (mean of its voxel centres), world LPS mm. */
  readonly x: number;
  readonly y: number;
  readonly z: number;
  /** Equivalent-sphere diameter of the voxelised lesion: ∛(6·V/π), V = voxel count × voxel volume (mm). */
  readonly diameterMm: number;
  readonly shape: LesionShape;
  /** Voxels in the mask. */
  readonly voxels: number;
  /** Equivalent diameter the shape was drawn with, before voxelisation and clipping to the body (mm). */
  readonly designDiameterMm: number;
  readonly host: 'liver' | 'lung' | 'soft';
  /** HU added to the host tissue (lung lesions: added to soft tissue, a solid nodule). */
  readonly contrastHu: number;
  /** True when no voxel centre fell inside the shape and the voxel nearest its centre was marked instead. */
  readonly singleVoxelFallback: boolean;
}

export interface PhantomMetadata {
  readonly site: SiteId;
  readonly scanner: ScannerId;
  readonly sex: Sex;
  readonly ageBand: AgeBand;
}

export interface Phantom {
  /** int16, HU-like. */
  readonly image: Volume;
  /** uint8, 1 = lesion, on the image's grid. */
  readonly mask: Volume;
  readonly lesions: PhantomLesion[];
  readonly metadata: PhantomMetadata;
}

/** An ellipsoid in world mm: inside when Σ((Rᵀ(p − c))ₐ / semiₐ)² ≤ 1. */
interface Ellipsoid {
  readonly c: Vec3;
  /** Row-major; column a is the world direction of semi-axis a. */
  readonly r: readonly number[];
  /** 1 / semi-axis, mm⁻¹. */
  readonly inv: Vec3;
}

function insideEllipsoid(e: Ellipsoid, x: number, y: number, z: number): boolean {
  const px = x - e.c[0];
  const py = y - e.c[1];
  const pz = z - e.c[2];
  const r = e.r;
  const u = ((r[0] as number) * px + (r[3] as number) * py + (r[6] as number) * pz) * e.inv[0];
  const v = ((r[1] as number) * px + (r[4] as number) * py + (r[7] as number) * pz) * e.inv[1];
  const w = ((r[2] as number) * px + (r[5] as number) * py + (r[8] as number) * pz) * e.inv[2];
  return u * u + v * v + w * w <= 1;
}

const AXIS_ALIGNED = [1, 0, 0, 0, 1, 0, 0, 0, 1];

function axisEllipsoid(c: Vec3, semi: Vec3): Ellipsoid {
  return { c, r: AXIS_ALIGNED, inv: [1 / semi[0], 1 / semi[1], 1 / semi[2]] };
}

/** The body and organs of one case, in world mm. */
interface Anatomy {
  readonly cx: number;
  readonly cy: number;
  /** Body semi-axes (x, y), mm; and 1/semi. */
  readonly invA: number;
  readonly invB: number;
  /** Inner edge of the subcutaneous fat, as a fraction of the body ellipse, squared. */
  readonly fatInner2: number;
  readonly spine: { x: number; y: number; r2: number };
  readonly aorta: { x: number; y: number; r2: number };
  readonly lungs: readonly Ellipsoid[];
  readonly liver: Ellipsoid;
  readonly spleen: Ellipsoid;
}

function insideBody(a: Anatomy, x: number, y: number): boolean {
  const u = (x - a.cx) * a.invA;
  const v = (y - a.cy) * a.invB;
  return u * u + v * v <= 1;
}

function tissueAt(a: Anatomy, x: number, y: number, z: number): number {
  const u = (x - a.cx) * a.invA;
  const v = (y - a.cy) * a.invB;
  const r2 = u * u + v * v;
  if (r2 > 1) return 0; // air
  if (r2 > a.fatInner2) return 1; // fat
  const sx = x - a.spine.x;
  const sy = y - a.spine.y;
  if (sx * sx + sy * sy <= a.spine.r2) return 6; // bone
  const ax = x - a.aorta.x;
  const ay = y - a.aorta.y;
  if (ax * ax + ay * ay <= a.aorta.r2) return 7; // vessel
  if (insideEllipsoid(a.lungs[0] as Ellipsoid, x, y, z) || insideEllipsoid(a.lungs[1] as Ellipsoid, x, y, z)) return 5; // lung
  if (insideEllipsoid(a.liver, x, y, z)) return 3;
  if (insideEllipsoid(a.spleen, x, y, z)) return 4;
  return 2; // soft tissue
}

function makeAnatomy(random: () => number, centre: Vec3, fov: { inPlane: number; halfZ: number }, sex: Sex): Anatomy {
  const [cx, cy, cz] = centre;
  const A = (fov.inPlane / 2) * (sex === 'M' ? uniform(random, 0.76, 0.8) : uniform(random, 0.72, 0.77));
  const B = A * uniform(random, 0.66, 0.78);
  const H = fov.halfZ;
  const fatInner = uniform(random, 0.84, 0.9);
  const lungZ = cz + H * uniform(random, 0.35, 0.5);
  const lungSemi: Vec3 = [0.29 * A, 0.55 * B, 0.75 * H];
  return {
    cx,
    cy,
    invA: 1 / A,
    invB: 1 / B,
    fatInner2: fatInner * fatInner,
    spine: { x: cx, y: cy + 0.55 * B, r2: 0.1 * A * (0.1 * A) },
    aorta: { x: cx + 0.12 * A, y: cy + 0.3 * B, r2: 0.06 * A * (0.06 * A) },
    lungs: [axisEllipsoid([cx - 0.42 * A, cy + 0.02 * B, lungZ], lungSemi), axisEllipsoid([cx + 0.42 * A, cy + 0.02 * B, lungZ], lungSemi)],
    liver: axisEllipsoid([cx - 0.33 * A, cy - 0.05 * B, cz - H * uniform(random, 0.25, 0.4)], [0.45 * A, 0.62 * B, 0.75 * H]),
    spleen: axisEllipsoid([cx + 0.5 * A, cy + 0.25 * B, cz - 0.3 * H], [0.17 * A, 0.28 * B, 0.35 * H]),
  };
}

/** A drawn lesion shape: its components, relative to nothing (world mm), and a bounding radius about `centre`. */
interface LesionDesign {
  readonly shape: LesionShape;
  readonly centre: Vec3;
  readonly parts: Ellipsoid[];
  readonly boundingRadius: number;
}

function designLesion(random: () => number, shape: LesionShape, centre: Vec3, diameter: number): LesionDesign {
  const r = diameter / 2;
  if (shape === 'sphere') return { shape, centre, parts: [axisEllipsoid(centre, [r, r, r])], boundingRadius: r };
  if (shape === 'ellipsoid') {
    // Semi-axes r·(p, q, 1/(p·q)): same volume as the sphere of the design diameter.
    const p = uniform(random, 0.7, 1.4);
    const q = uniform(random, 0.7, 1.4);
    const semi: Vec3 = [r * p, r * q, r / (p * q)];
    return { shape, centre, parts: [{ c: centre, r: randomRotation(random), inv: [1 / semi[0], 1 / semi[1], 1 / semi[2]] }], boundingRadius: Math.max(...semi) };
  }
  // Blob: a core ellipsoid and 2–4 lobes whose centres lie inside the core, so the union is connected. The radii are
  // scaled so the union's volume is near the design sphere's (checked loosely in the spec).
  const parts: Ellipsoid[] = [];
  let bounding = 0;
  const lobes = 2 + Math.floor(random() * 3);
  for (let n = 0; n <= lobes; n++) {
    const semi: Vec3 = n === 0 ? [r * uniform(random, 0.7, 0.85), r * uniform(random, 0.7, 0.85), r * uniform(random, 0.7, 0.85)] : [r * uniform(random, 0.35, 0.55), r * uniform(random, 0.35, 0.55), r * uniform(random, 0.35, 0.55)];
    let off: Vec3 = [0, 0, 0];
    if (n > 0) {
      let vx: number, vy: number, vz: number, len2: number;
      do {
        vx = 2 * random() - 1;
        vy = 2 * random() - 1;
        vz = 2 * random() - 1;
        len2 = vx * vx + vy * vy + vz * vz;
      } while (len2 < 0.05 || len2 > 1);
      const scale = (r * uniform(random, 0.35, 0.6)) / Math.sqrt(len2);
      off = [vx * scale, vy * scale, vz * scale];
    }
    const c: Vec3 = [centre[0] + off[0], centre[1] + off[1], centre[2] + off[2]];
    parts.push({ c, r: randomRotation(random), inv: [1 / semi[0], 1 / semi[1], 1 / semi[2]] });
    bounding = Math.max(bounding, Math.sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2]) + Math.max(...semi));
  }
  return { shape: 'blob', centre, parts, boundingRadius: bounding };
}

function insideLesion(d: LesionDesign, x: number, y: number, z: number): boolean {
  for (const p of d.parts) if (insideEllipsoid(p, x, y, z)) return true;
  return false;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Grid of a case: float32 spacing and origin; the body centre sits near the grid centre. */
function makeGeometry(random: () => number, size: Vec3, scanner: ScannerProfile): { geometry: Geometry; bodyCentre: Vec3 } {
  let direction: Geometry['direction'] = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  if (scanner.oblique) {
    const { inPlane, tilt } = scanner.oblique;
    direction = rotationFromQuaternion(1, uniform(random, -tilt, tilt), uniform(random, -tilt, tilt), uniform(random, -inPlane, inPlane));
  }
  // A plausible table position: the patient's centre a few cm off the isocentre, somewhere along the trunk.
  const bodyCentre: Vec3 = [uniform(random, -20, 20), uniform(random, -40, 10), uniform(random, -700, -100)];
  const jitter = [uniform(random, -2, 2), uniform(random, -2, 2), uniform(random, -1, 1)];
  const half = [0, 1, 2].map((a) => (((size[a] as number) - 1) / 2 + (jitter[a] as number)) * (scanner.spacing[a] as number));
  const d = direction;
  const origin: Vec3 = [0, 1, 2].map((r) => Math.fround(bodyCentre[r]! - (d[3 * r]! * half[0]! + d[3 * r + 1]! * half[1]! + d[3 * r + 2]! * half[2]!))) as Vec3;
  return { geometry: { dims: [size[0], size[1], size[2]], spacing: [scanner.spacing[0], scanner.spacing[1], scanner.spacing[2]], origin, direction }, bodyCentre };
}

/** Random streams of a case, one per purpose, so that changing one draw does not move the others. */
const STREAM = { metadata: 1, geometry: 2, anatomy: 3, lesions: 4, noise: 5 } as const;

export function generatePhantom(spec: PhantomSpec, seed: number): Phantom {
  const size = spec.size ?? DEFAULT_SIZE;
  if (size.some((n) => !Number.isInteger(n) || n < 16 || n > 2048)) throw new Error(`phantom size must be 16..2048 per axis, got ${size.join('x')}`);
  const meta = mulberry32(deriveSeed(seed, STREAM.metadata));
  const drawnScanner = pick(meta, SCANNERS);
  const drawnSex: Sex = meta() < 0.5 ? 'F' : 'M';
  const drawnAge = pick(meta, AGE_BANDS);
  const drawnCount = Math.floor(meta() * (MAX_LESIONS + 1));
  const scanner = spec.scanner ? scannerById(spec.scanner) : drawnScanner;
  const sex = spec.sex ?? drawnSex;
  const ageBand = spec.ageBand ?? drawnAge;
  const lesionCount = spec.lesionCount ?? drawnCount;
  if (!Number.isInteger(lesionCount) || lesionCount < 0 || lesionCount > MAX_LESIONS) throw new Error(`lesionCount must be 0..${MAX_LESIONS}`);

  const { geometry, bodyCentre } = makeGeometry(mulberry32(deriveSeed(seed, STREAM.geometry)), size, scanner);
  const [nx, ny, nz] = geometry.dims;
  const [si, sj, sk] = geometry.spacing;
  const anatomy = makeAnatomy(mulberry32(deriveSeed(seed, STREAM.anatomy)), bodyCentre, { inPlane: Math.min(nx * si, ny * sj), halfZ: (nz * sk) / 2 }, sex);

  // Lesions: rasterised first into a label volume (lesion index + 1).
  const n = nx * ny * nz;
  const labels = new Uint8Array(n);
  const lesionRandom = mulberry32(deriveSeed(seed, STREAM.lesions));
  const placed: { design: LesionDesign; designDiameter: number; host: PhantomLesion['host']; contrast: number; base: number }[] = [];
  // Gap between bounding spheres: more than a voxel diagonal, so two lesions' voxels are never 26-neighbours.
  const gap = Math.sqrt(si * si + sj * sj + sk * sk) + 0.5;
  const hostCode = { liver: 3, lung: 5, soft: 2 } as const;
  for (let l = 0; l < lesionCount; l++) {
    const shape = pick(lesionRandom, ['sphere', 'ellipsoid', 'blob'] as const);
    const hostDraw = lesionRandom();
    const host: PhantomLesion['host'] = hostDraw < 0.45 ? 'liver' : hostDraw < 0.8 ? 'lung' : 'soft';
    const t = lesionRandom();
    // Skewed towards small lesions: d = 3 + 37·t².
    let diameter = MIN_DESIGN_DIAMETER_MM + (MAX_DESIGN_DIAMETER_MM - MIN_DESIGN_DIAMETER_MM) * t * t;
    const magnitude = uniform(lesionRandom, 15, 80);
    const contrast = host === 'lung' || lesionRandom() < 0.6 ? magnitude : -magnitude;
    let design: LesionDesign | null = null;
    for (let shrink = 0; shrink < 8 && !design; shrink++) {
      for (let attempt = 0; attempt < 200; attempt++) {
        const c = voxelToWorld(geometry, lesionRandom() * (nx - 1), lesionRandom() * (ny - 1), lesionRandom() * (nz - 1));
        if (tissueAt(anatomy, c[0], c[1], c[2]) !== hostCode[host]) continue;
        const candidate = designLesion(lesionRandom, shape, c, diameter);
        const ci = worldToVoxel(geometry, c[0], c[1], c[2]);
        const R = candidate.boundingRadius;
        const inGrid = [0, 1, 2].every((a) => ci[a]! - R / geometry.spacing[a]! >= 0 && ci[a]! + R / geometry.spacing[a]! <= geometry.dims[a]! - 1);
        if (!inGrid) continue;
        const apart = placed.every((p) => {
          const dx = p.design.centre[0] - c[0];
          const dy = p.design.centre[1] - c[1];
          const dz = p.design.centre[2] - c[2];
          const need = p.design.boundingRadius + R + gap;
          return dx * dx + dy * dy + dz * dz >= need * need;
        });
        if (!apart) continue;
        design = candidate;
        break;
      }
      if (!design) diameter = Math.max(MIN_DESIGN_DIAMETER_MM, diameter * 0.8);
    }
    if (!design) continue; // no room left (rare; the case then has fewer lesions, which lesions.csv reports)
    const base = host === 'lung' ? TISSUE_HU.soft : TISSUE_HU[host];
    placed.push({ design, designDiameter: diameter, host, contrast, base });
  }

  const voxelVolume = si * sj * sk;
  const lesions: PhantomLesion[] = [];
  placed.forEach((p, idx) => {
    const label = idx + 1;
    const ci = worldToVoxel(geometry, p.design.centre[0], p.design.centre[1], p.design.centre[2]);
    const reach = [0, 1, 2].map((a) => p.design.boundingRadius / geometry.spacing[a]! + 1);
    const lo = [0, 1, 2].map((a) => Math.max(0, Math.floor(ci[a]! - reach[a]!)));
    const hi = [0, 1, 2].map((a) => Math.min(geometry.dims[a]! - 1, Math.ceil(ci[a]! + reach[a]!)));
    let count = 0;
    let sumI = 0;
    let sumJ = 0;
    let sumK = 0;
    for (let k = lo[2]!; k <= hi[2]!; k++) {
      for (let j = lo[1]!; j <= hi[1]!; j++) {
        for (let i = lo[0]!; i <= hi[0]!; i++) {
          const w = voxelToWorld(geometry, i, j, k);
          if (!insideBody(anatomy, w[0], w[1]) || !insideLesion(p.design, w[0], w[1], w[2])) continue;
          const at = i + nx * (j + ny * k);
          if (labels[at] !== 0) continue;
          labels[at] = label;
          count++;
          sumI += i;
          sumJ += j;
          sumK += k;
        }
      }
    }
    let fallback = false;
    if (count === 0) {
      // No voxel centre inside (e.g. 3 mm on 5 mm slices): mark the voxel nearest the centre. The centre lies in
      // the host organ, well inside the body, so that voxel is in the body too (checked).
      const [i, j, k] = ci.map((v) => Math.round(v)) as Vec3;
      const w = voxelToWorld(geometry, i, j, k);
      if (!insideBody(anatomy, w[0], w[1])) throw new Error('phantom: fallback voxel outside the body');
      labels[i + nx * (j + ny * k)] = label;
      count = 1;
      [sumI, sumJ, sumK] = [i, j, k];
      fallback = true;
    }
    const com = voxelToWorld(geometry, sumI / count, sumJ / count, sumK / count);
    lesions.push({
      lesionId: `L${label}`,
      x: com[0],
      y: com[1],
      z: com[2],
      diameterMm: cbrtExact((6 * count * voxelVolume) / Math.PI),
      shape: p.design.shape,
      voxels: count,
      designDiameterMm: p.designDiameter,
      host: p.host,
      contrastHu: p.contrast,
      singleVoxelFallback: fallback,
    });
  });

  const image = new Int16Array(n);
  const mask = new Uint8Array(n);
  const noise = mulberry32(deriveSeed(seed, STREAM.noise));
  // The blur below scales white-noise SD by (6/16)² ^ ½ = 3/8 in the interior.
  const preSd = (scanner.noiseSdHu * 8) / 3;
  const tissueHu = TISSUES.map((t) => TISSUE_HU[t] + scanner.huOffset);
  const lesionHu = placed.map((p) => p.base + p.contrast + scanner.huOffset);
  const plane = nx * ny;
  const raw = new Float64Array(plane);
  const rows = new Float64Array(plane);
  const d = geometry.direction;
  const stepX = [d[0] * si, d[3] * si, d[6] * si];
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      const row = voxelToWorld(geometry, 0, j, k);
      for (let i = 0; i < nx; i++) {
        const x = row[0] + stepX[0]! * i;
        const y = row[1] + stepX[1]! * i;
        const z = row[2] + stepX[2]! * i;
        const at = i + nx * (j + ny * k);
        const label = labels[at] as number;
        const hu = label > 0 ? (lesionHu[label - 1] as number) : (tissueHu[tissueAt(anatomy, x, y, z)] as number);
        raw[i + nx * j] = hu + preSd * irwinHall4(noise);
        if (label > 0) mask[at] = 1;
      }
    }
    // In-plane [1 2 1] along i then j, edges replicated; integers and halves stay exact until the final /16.
    for (let j = 0; j < ny; j++) {
      const r0 = nx * j;
      for (let i = 0; i < nx; i++) {
        const left = raw[r0 + (i > 0 ? i - 1 : 0)] as number;
        const right = raw[r0 + (i < nx - 1 ? i + 1 : nx - 1)] as number;
        rows[r0 + i] = left + 2 * (raw[r0 + i] as number) + right;
      }
    }
    const sliceBase = plane * k;
    for (let j = 0; j < ny; j++) {
      const up = nx * (j > 0 ? j - 1 : 0);
      const down = nx * (j < ny - 1 ? j + 1 : ny - 1);
      const mid = nx * j;
      for (let i = 0; i < nx; i++) {
        const v = Math.round(((rows[up + i] as number) + 2 * (rows[mid + i] as number) + (rows[down + i] as number)) / 16);
        image[sliceBase + mid + i] = v < -1024 ? -1024 : v > 3071 ? 3071 : v;
      }
    }
  }

  return {
    image: { ...geometry, data: image },
    mask: { ...geometry, data: mask },
    lesions,
    metadata: { site: scanner.site, scanner: scanner.id, sex, ageBand },
  };
}
