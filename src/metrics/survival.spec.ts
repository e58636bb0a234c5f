import fc from 'fast-check';
import {
  type SurvivalInput,
  harrellC,
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
      const ri = risk[i] as number;
      const rj = risk[j] as number;
      rowDen += wj;
      if (ri === rj) rowNum += 0.5 * wj;
      else if (ri > rj) rowNum += wj;
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

// Small value sets force ties in time and in risk; the 1e-8-scale offsets check that near-ties are not ties.
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

describe('concordance is scale-free (exact risk comparisons, RISK_TIE_CONVENTION)', () => {
  // Strictly increasing transforms, including ones that squeeze every risk below 1e-8 (the old tied_tol) or spread
  // them over many orders of magnitude (a hazard-like output).
  const transforms: [string, (r: number) => number][] = [
    ['×1e-9', (r) => r * 1e-9],
    ['exp', (r) => Math.exp(r)],
    ['1e-7·exp(r)', (r) => 1e-7 * Math.exp(r)],
    ['cube', (r) => r * r * r],
    ['×1e-300', (r) => r * 1e-300],
  ];
  const cohort = fc.array(
    fc.record({ time: fc.integer({ min: 1, max: 30 }), event: fc.integer({ min: 0, max: 1 }), risk: fc.integer({ min: -40, max: 40 }) }),
    { minLength: 2, maxLength: 60 },
  );
  it("Harrell's and Uno's C are unchanged by monotone transforms of the risk", () => {
    fc.assert(
      fc.property(cohort, (cases) => {
        const event = cases.map((c) => c.event);
        event[0] = 1;
        const time = cases.map((c) => c.time);
        // Risks on a grid of 1/8 so that the transforms are exact enough to keep distinct risks distinct.
        const base = cases.map((c) => c.risk / 8);
        const input = { time, event, risk: base };
        let h: number;
        try {
          h = harrellC(input).cIndex;
        } catch {
          return; // no comparable pair
        }
        const tau = largestEventTime(input) + 1;
        const ones = new Float64Array(time.length).fill(1);
        const order = survivalOrder(input);
        const u = weightedUnoC(input, order, ones, tau); // NaN when Ĝ = 0 before τ: must stay NaN
        expect(u).toEqual(weightedUnoC({ time, event, risk: base }, survivalOrder(input), ones, tau));
        for (const [name, f] of transforms) {
          const t = { time, event, risk: base.map(f) };
          expect([name, harrellC(t).cIndex]).toEqual([name, h]);
          expect([name, weightedUnoC(t, survivalOrder(t), ones, tau)]).toEqual([name, u]);
        }
      }),
      { numRuns: 200, seed: 8 },
    );
  });

  it('the issue\'s example: risks × 1e-9 do not collapse C to 0.5', () => {
    const time = [5, 8, 8, 12, 15, 15, 20, 22, 30, 30];
    const event = [1, 1, 0, 1, 1, 0, 0, 1, 1, 0];
    const risk = [0.9, 0.7, 0.6, 0.8, 0.4, 0.5, 0.3, 0.35, 0.1, 0.2];
    const c = harrellC({ time, event, risk }).cIndex;
    expect(c).toBeCloseTo(0.903226, 6); // METRICS.md §5.1 golden
    expect(harrellC({ time, event, risk: risk.map((r) => r * 1e-9) }).cIndex).toBe(c);
  });
});
