import fc from 'fast-check';
import {
  type SurvivalInput,
  TIED_RISK_TOL,
  censoringSurvivalAt,
  harrellAndUnoWithCi,
  harrellCWithCi,
  largestEventTime,
  survivalOrder,
  unoCWithCi,
  weightedHarrellC,
  weightedUnoC,
} from './survival';

// Test oracles: the straightforward O(n²) pair loops the Fenwick-tree versions replaced.
function naiveSums(input: SurvivalInput, order: Int32Array, weights: Float64Array, pairWeight: Float64Array | null): { num: number; den: number } {
  const { time, event, risk } = input;
  const n = order.length;
  let num = 0;
  let den = 0;
  for (let a = 0; a < n; a++) {
    const i = order[a] as number;
    const wi = weights[i] as number;
    if (event[i] !== 1 || wi === 0) continue;
    const pw = pairWeight ? (pairWeight[i] as number) : 1;
    if (pw === 0) continue;
    let rowNum = 0;
    let rowDen = 0;
    for (let b = a + 1; b < n; b++) {
      const j = order[b] as number;
      const wj = weights[j] as number;
      if (wj === 0) continue;
      if ((time[j] as number) === (time[i] as number) && event[j] === 1) continue;
      const d = (risk[i] as number) - (risk[j] as number);
      rowDen += wj;
      if (Math.abs(d) <= TIED_RISK_TOL) rowNum += 0.5 * wj;
      else if (d > 0) rowNum += wj;
    }
    num += wi * pw * rowNum;
    den += wi * pw * rowDen;
  }
  return { num, den };
}

function naiveHarrell(input: SurvivalInput, order: Int32Array, weights: Float64Array): number {
  const { num, den } = naiveSums(input, order, weights, null);
  return den === 0 ? Number.NaN : num / den;
}

function naiveUno(input: SurvivalInput, order: Int32Array, weights: Float64Array, tau: number): number {
  const g = censoringSurvivalAt(input, order, weights);
  const ipcw = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) {
    if (input.event[i] !== 1 || (weights[i] as number) === 0 || !((input.time[i] as number) < tau)) continue;
    const gi = g[i] as number;
    if (gi === 0) return Number.NaN;
    ipcw[i] = 1 / (gi * gi);
  }
  const { num, den } = naiveSums(input, order, weights, ipcw);
  return den === 0 ? Number.NaN : num / den;
}

// Small value sets force ties in time and in risk; the 1e-8-scale offsets exercise the tie tolerance at its edge.
const caseArb = fc.record({
  time: fc.integer({ min: 1, max: 8 }),
  event: fc.integer({ min: 0, max: 1 }),
  risk: fc.tuple(fc.integer({ min: 0, max: 6 }), fc.constantFrom(0, 0.5e-8, 1e-8, 1.5e-8, -0.7e-8, 3e-8)),
  weight: fc.integer({ min: 0, max: 3 }),
});

function toInput(cases: { time: number; event: number; risk: [number, number] }[]): SurvivalInput {
  const event = cases.map((c) => c.event);
  event[0] = 1; // at least one death
  return { time: cases.map((c) => c.time), event, risk: cases.map((c) => c.risk[0] / 3 + c.risk[1]) };
}

describe('fast weighted concordance', () => {
  it('Harrell and Uno equal the O(n²) pair loops exactly on random data with tied times and risks', () => {
    fc.assert(
      fc.property(fc.array(caseArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 9 }), (cases, tauRaw) => {
        const input = toInput(cases);
        const order = survivalOrder(input);
        const weights = Float64Array.from(cases, (c) => c.weight);
        const ones = new Float64Array(cases.length).fill(1);
        for (const w of [weights, ones]) {
          expect(weightedHarrellC(input, order, w)).toBe(naiveHarrell(input, order, w));
          for (const tau of [tauRaw, largestEventTime(input)]) {
            expect(weightedUnoC(input, order, w, tau)).toBe(naiveUno(input, order, w, tau));
          }
        }
      }),
      { numRuns: 500, seed: 20240601 },
    );
  });

  it('agrees to 1e-12 with non-integer weights', () => {
    fc.assert(
      fc.property(fc.array(caseArb, { minLength: 2, maxLength: 30 }), fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 30, maxLength: 30 }), (cases, ws) => {
        const input = toInput(cases);
        const order = survivalOrder(input);
        const w = Float64Array.from(cases, (_, i) => ws[i] as number);
        const fast = weightedHarrellC(input, order, w);
        const slow = naiveHarrell(input, order, w);
        if (Number.isNaN(slow)) expect(fast).toBeNaN();
        else expect(Math.abs(fast - slow)).toBeLessThanOrEqual(1e-12);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('the shared Harrell + Uno bootstrap equals the two separate bootstraps', () => {
    const input = toInput(
      Array.from({ length: 60 }, (_, i) => ({ time: 1 + ((i * 7) % 13), event: i % 3 === 0 ? 0 : 1, risk: [(i * 5) % 9, 0] as [number, number] })),
    );
    for (const interval of ['percentile', 'bca'] as const) {
      const both = harrellAndUnoWithCi(input, { replicates: 300, seed: 11, interval, tau: 12 });
      expect(both.harrell).toEqual(harrellCWithCi(input, { replicates: 300, seed: 11, interval }));
      expect(both.uno).toEqual(unoCWithCi(input, { replicates: 300, seed: 11, interval, tau: 12 }));
    }
  });
});
