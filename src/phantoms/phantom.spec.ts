import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNifti1, writeNifti } from '../volumes/nifti-write';
import { Volume, voxelToWorld } from '../volumes/volume';
import { CASES_CSV_HEADER, caseRow, generateCohort, LESIONS_CSV_HEADER, lesionRows, planCohort, SHIPPED_CASES, SHIPPED_SEED } from './cohort';
import { cbrtExact } from './exact-math';
import { generatePhantom, MAX_DESIGN_DIAMETER_MM, MIN_DESIGN_DIAMETER_MM, Phantom } from './phantom';
import { SCANNERS, scannerById } from './scanners';

const PYTHON = '/usr/bin/python3';
const READER = join(__dirname, '..', '..', 'test', 'golden', 'nibabel-read-nifti.py');
const HAS_NIBABEL = spawnSync(PYTHON, ['-c', 'import nibabel, scipy'], { stdio: 'ignore' }).status === 0;
if (!HAS_NIBABEL) {
  // eslint-disable-next-line no-console
  console.warn(`phantom.spec: SKIPPING the nibabel centre-of-mass check: ${PYTHON} cannot import nibabel and scipy`);
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** 26-connected components of a binary mask (spec-side, independent of the generator): voxel counts and mean index. */
function components(mask: Volume): { voxels: number; mean: [number, number, number] }[] {
  const [nx, ny, nz] = mask.dims;
  const seen = new Uint8Array(mask.data.length);
  const out: { voxels: number; mean: [number, number, number] }[] = [];
  for (let start = 0; start < mask.data.length; start++) {
    if (mask.data[start] === 0 || seen[start]) continue;
    const stack = [start];
    seen[start] = 1;
    let count = 0;
    const sum: [number, number, number] = [0, 0, 0];
    while (stack.length > 0) {
      const at = stack.pop() as number;
      const i = at % nx;
      const j = Math.floor(at / nx) % ny;
      const k = Math.floor(at / (nx * ny));
      count++;
      sum[0] += i;
      sum[1] += j;
      sum[2] += k;
      for (let dk = -1; dk <= 1; dk++) for (let dj = -1; dj <= 1; dj++) for (let di = -1; di <= 1; di++) {
        const a = i + di;
        const b = j + dj;
        const c = k + dk;
        if (a < 0 || b < 0 || c < 0 || a >= nx || b >= ny || c >= nz) continue;
        const nb = a + nx * (b + ny * c);
        if (mask.data[nb] !== 0 && !seen[nb]) {
          seen[nb] = 1;
          stack.push(nb);
        }
      }
    }
    out.push({ voxels: count, mean: [sum[0] / count, sum[1] / count, sum[2] / count] });
  }
  return out;
}

/** Voxels connected to the grid border through air (HU < −900), 6-connected: "outside the body". */
function outsideAir(image: Volume): Uint8Array {
  const [nx, ny, nz] = image.dims;
  const out = new Uint8Array(image.data.length);
  const stack: number[] = [];
  const push = (at: number): void => {
    if (!out[at] && (image.data[at] as number) < -900) {
      out[at] = 1;
      stack.push(at);
    }
  };
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    if (i === 0 || j === 0 || k === 0 || i === nx - 1 || j === ny - 1 || k === nz - 1) push(i + nx * (j + ny * k));
  }
  while (stack.length > 0) {
    const at = stack.pop() as number;
    const i = at % nx;
    const j = Math.floor(at / nx) % ny;
    const k = Math.floor(at / (nx * ny));
    if (i > 0) push(at - 1);
    if (i < nx - 1) push(at + 1);
    if (j > 0) push(at - nx);
    if (j < ny - 1) push(at + nx);
    if (k > 0) push(at - nx * ny);
    if (k < nz - 1) push(at + nx * ny);
  }
  return out;
}

// A small cohort (smaller grid than the shipped 128×128×64, to keep the spec quick): two cases per scanner.
const COHORT = [...generateCohort({ seed: 99, cases: 8, size: [96, 96, 48] })];

describe('generatePhantom', () => {
  it('gives byte-identical image and mask for the same seed, and different ones for another seed', () => {
    const spec = { size: [48, 40, 24] as [number, number, number], scanner: 'scanner-a2' as const, lesionCount: 3 };
    const a = generatePhantom(spec, 1234);
    const b = generatePhantom(spec, 1234);
    const c = generatePhantom(spec, 1235);
    expect(encodeNifti1(a.image).equals(encodeNifti1(b.image))).toBe(true);
    expect(encodeNifti1(a.mask).equals(encodeNifti1(b.mask))).toBe(true);
    expect(a.lesions).toEqual(b.lesions);
    expect(encodeNifti1(a.image).equals(encodeNifti1(c.image))).toBe(false);
  });

  it('still gives the pinned bytes for a small case (drift detector only: the generator is its own oracle here)', () => {
    const p = generatePhantom({ size: [48, 40, 24], scanner: 'scanner-a2', lesionCount: 3 }, 1234);
    // Regenerate after an intended change to the generator with: sha256(encodeNifti1(p.image)), likewise the mask.
    expect(sha256(encodeNifti1(p.image))).toBe('48da4c1cf959d52592b954d2726f48a8d04c7ebd7f16433bdacc38e4b74bdce9');
    expect(sha256(encodeNifti1(p.mask))).toBe('c57b9d1e43f317230a0b054c58432ed8c4f6852b601e53f65933cbfd7ef66ebc');
  });

  it.each(COHORT.map((c) => [c.caseId, c] as const))('keeps every lesion voxel inside the body and the body inside the in-plane field of view: %s', (_id, c) => {
    const outside = outsideAir(c.image);
    let maskInAir = 0;
    for (let n = 0; n < c.mask.data.length; n++) if (c.mask.data[n] && outside[n]) maskInAir++;
    expect(maskInAir).toBe(0);
    const [nx, ny, nz] = c.image.dims;
    let borderTissue = 0;
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      if ((i === 0 || j === 0 || i === nx - 1 || j === ny - 1) && (c.image.data[i + nx * (j + ny * k)] as number) > -700) borderTissue++;
    }
    expect(borderTissue).toBe(0);
  });

  it.each(COHORT.map((c) => [c.caseId, c] as const))('reports centres of mass and equivalent diameters that a recomputation from the mask gives: %s', (_id, c) => {
    const comps = components(c.mask);
    expect(comps).toHaveLength(c.lesions.length);
    const voxelVolume = c.mask.spacing[0] * c.mask.spacing[1] * c.mask.spacing[2];
    for (const l of c.lesions) {
      const w = [l.x, l.y, l.z];
      const match = comps.find((m) => voxelToWorld(c.mask, ...m.mean).every((v, a) => Math.abs(v - (w[a] as number)) < 1e-6));
      expect(match?.voxels).toBe(l.voxels);
      expect(Math.abs(l.diameterMm - Math.cbrt((6 * l.voxels * voxelVolume) / Math.PI))).toBeLessThan(1e-9);
    }
    let total = 0;
    for (const v of c.mask.data) total += v;
    expect(total).toBe(c.lesions.reduce((s, l) => s + l.voxels, 0));
  });

  it('draws design diameters in 3–40 mm and voxelises spheres and ellipsoids to about their design volume', () => {
    const lesions = COHORT.flatMap((c) => c.lesions.map((l) => ({ l, vv: c.mask.spacing[0] * c.mask.spacing[1] * c.mask.spacing[2] })));
    expect(lesions.length).toBeGreaterThan(10);
    const ratios: number[] = [];
    for (const { l, vv } of lesions) {
      expect(l.designDiameterMm).toBeGreaterThanOrEqual(MIN_DESIGN_DIAMETER_MM);
      expect(l.designDiameterMm).toBeLessThanOrEqual(MAX_DESIGN_DIAMETER_MM);
      expect(l.voxels).toBeGreaterThanOrEqual(1);
      const design = (Math.PI / 6) * l.designDiameterMm ** 3;
      if (l.shape !== 'blob' && l.designDiameterMm >= 10) ratios.push((l.voxels * vv) / design);
      // Never more than the shape plus a shell of one voxel diagonal.
      if (l.shape !== 'blob') expect(l.voxels * vv).toBeLessThan(1.35 * design + 2 * vv);
    }
    ratios.sort((a, b) => a - b);
    expect(ratios.length).toBeGreaterThan(3);
    const median = ratios[Math.floor(ratios.length / 2)] as number;
    expect(median).toBeGreaterThan(0.8);
    expect(median).toBeLessThan(1.2);
  });

  it('marks one voxel for a lesion too small to hold a voxel centre (3 mm on 5 mm slices)', () => {
    // Many tiny-lesion draws on the thick-slice scanner; every lesion must have ≥ 1 voxel and some need the fallback.
    let fallbacks = 0;
    for (let s = 0; s < 6; s++) {
      const p = generatePhantom({ size: [64, 64, 24], scanner: 'scanner-a1', lesionCount: 5 }, 500 + s);
      for (const l of p.lesions) {
        expect(l.voxels).toBeGreaterThanOrEqual(1);
        if (l.singleVoxelFallback) fallbacks++;
      }
    }
    expect(fallbacks).toBeGreaterThan(0);
  });

  it.each(COHORT.map((c) => [c.caseId, c] as const))('gives plausible HU: air, noise SD, body tissue, bone: %s', (_id, c) => {
    const scanner = scannerById(c.metadata.scanner);
    const outside = outsideAir(c.image);
    let n = 0;
    let sum = 0;
    let sum2 = 0;
    let max = -Infinity;
    let min = Infinity;
    const inside: number[] = [];
    for (let v = 0; v < c.image.data.length; v++) {
      const hu = c.image.data[v] as number;
      max = Math.max(max, hu);
      min = Math.min(min, hu);
      if (outside[v]) {
        n++;
        sum += hu;
        sum2 += hu * hu;
      } else if (v % 7 === 0) inside.push(hu);
    }
    const mean = sum / n;
    const sd = Math.sqrt(sum2 / n - mean * mean);
    expect(min).toBeGreaterThanOrEqual(-1024);
    expect(Math.abs(mean - (-1000 + scanner.huOffset))).toBeLessThan(8);
    // Clamping at −1024 trims the low tail of air a little.
    expect(sd).toBeGreaterThan(0.7 * scanner.noiseSdHu);
    expect(sd).toBeLessThan(1.3 * scanner.noiseSdHu);
    inside.sort((a, b) => a - b);
    const median = inside[Math.floor(inside.length / 2)] as number;
    expect(median).toBeGreaterThan(-150);
    expect(median).toBeLessThan(100);
    expect(max).toBeGreaterThan(500); // spine
    expect(max).toBeLessThan(1000);
  });

  it('sets an oblique, proper, orthonormal direction for the oblique scanners and identity for the others', () => {
    for (const c of COHORT) {
      const d = c.image.direction;
      const oblique = scannerById(c.metadata.scanner).oblique !== null;
      expect(d.some((v, idx) => Math.abs(v - (idx % 4 === 0 ? 1 : 0)) > 1e-3)).toBe(oblique);
      const det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) + d[2] * (d[3] * d[7] - d[4] * d[6]);
      expect(Math.abs(det - 1)).toBeLessThan(1e-12);
      expect(c.image.spacing).toEqual(scannerById(c.metadata.scanner).spacing);
    }
  });
});

describe('cohort plan and files', () => {
  const plan = planCohort({ seed: SHIPPED_SEED, cases: SHIPPED_CASES });

  it('has lesion-free cases and every site and scanner at least 4 times in the shipped cohort', () => {
    expect(plan.filter((c) => c.lesionCount === 0).length).toBeGreaterThanOrEqual(3);
    for (const s of SCANNERS) expect(plan.filter((c) => c.scanner === s.id).length).toBeGreaterThanOrEqual(4);
    for (const site of new Set(SCANNERS.map((s) => s.site))) expect(plan.filter((c) => scannerById(c.scanner).site === site).length).toBeGreaterThanOrEqual(4);
  });

  it('can put every scanner and site in a 4-case sample and still in the test split', () => {
    // One case per scanner is a sample of 4 that covers every scanner and (one scanner per site but site-a's two) every site.
    const sample = SCANNERS.map((s) => plan.find((c) => c.scanner === s.id)!);
    const test = plan.filter((c) => !sample.includes(c));
    for (const s of SCANNERS) expect(test.some((c) => c.scanner === s.id)).toBe(true);
    expect(new Set(sample.map((c) => scannerById(c.scanner).site)).size).toBe(3);
  });

  it('writes lesions.csv and cases.csv rows in the declared columns, a lesion-free case once with empty fields', () => {
    expect(LESIONS_CSV_HEADER).toBe('case_id,lesion_id,x,y,z,diameter_mm');
    expect(CASES_CSV_HEADER).toBe('case_id,site,scanner,sex,age_band,n_lesions,spacing');
    const free = COHORT.find((c) => c.lesions.length === 0)!;
    expect(lesionRows(free)).toEqual([`${free.caseId},,,,,`]);
    const withLesions = COHORT.find((c) => c.lesions.length > 1)!;
    const rows = lesionRows(withLesions);
    expect(rows).toHaveLength(withLesions.lesions.length);
    expect(rows[0]).toMatch(/^LP-\d{4},L1,-?\d+\.\d{3},-?\d+\.\d{3},-?\d+\.\d{3},\d+\.\d{3}$/);
    expect(caseRow(withLesions).split(',')).toHaveLength(7);
  });

  it('matches cohorts/lesion-phantoms/expected-sha256.json for the first shipped case', () => {
    const expected = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cohorts', 'lesion-phantoms', 'expected-sha256.json'), 'utf8')) as { seed: number; cases: number; contentSha256: Record<string, string> };
    expect(expected.seed).toBe(SHIPPED_SEED);
    expect(expected.cases).toBe(SHIPPED_CASES);
    let n = 0;
    for (const c of generateCohort({ seed: SHIPPED_SEED, cases: SHIPPED_CASES })) {
      expect(sha256(encodeNifti1(c.image, { description: `SYNTHETIC Assay lesion phantom ${c.caseId} image` }))).toBe(expected.contentSha256[`images/${c.caseId}.nii.gz`]);
      expect(sha256(encodeNifti1(c.mask, { description: `SYNTHETIC Assay lesion phantom ${c.caseId} mask` }))).toBe(expected.contentSha256[`masks/${c.caseId}.nii.gz`]);
      if (++n === 1) break;
    }
  });
});

(HAS_NIBABEL ? describe : describe.skip)('lesion centres recomputed by nibabel from the written mask and its affine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phantom-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same centres (LPS = RAS with x, y negated) and voxel counts for an oblique five-lesion case', async () => {
    const c: Phantom & { caseId: string } = { caseId: 'nibabel', ...generatePhantom({ scanner: 'scanner-a2', lesionCount: 5 }, 4242) };
    expect(c.lesions.length).toBeGreaterThanOrEqual(3);
    const file = join(dir, `${c.caseId}.nii.gz`);
    await writeNifti(file, c.mask);
    const [view] = JSON.parse(execFileSync(PYTHON, [READER, file], { maxBuffer: 1 << 26 }).toString('utf8')) as { components: { voxels: number; ras: number[] }[] }[];
    expect(view!.components).toHaveLength(c.lesions.length);
    for (const l of c.lesions) {
      const m = view!.components.find((comp) => Math.abs(-(comp.ras[0] as number) - l.x) < 1e-3 && Math.abs(-(comp.ras[1] as number) - l.y) < 1e-3 && Math.abs((comp.ras[2] as number) - l.z) < 1e-3);
      expect(m?.voxels).toBe(l.voxels);
    }
  }, 60_000);
});

describe('cbrtExact', () => {
  it('agrees with Math.cbrt to 1e-12 relative over a wide range', () => {
    for (const v of [1e-6, 0.5, 1, 2.45, 27, 1234.5, 4.2e5, 9.9e9]) expect(Math.abs(cbrtExact(v) / Math.cbrt(v) - 1)).toBeLessThan(1e-12);
  });
});
