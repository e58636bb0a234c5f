// Federated pooling (issue 11) against independent references: metafor's DerSimonian–Laird and R's pchisq/pt/qt
// (test/golden/pooling-goldens.json, from test/golden/make-pooling-goldens.R), pROC's AUROC and DeLong variance on WDBC
// (test/golden/binary-goldens.json), and the single-site computation on the union of the nodes' cases.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aurocWithDelong, proportionWithWilson } from './binary-classification';
import { createCipheriv, createHmac } from 'node:crypto';
import { bootstrapCi, createKeyedRandomInt, forEachReplicate } from './bootstrap';
import { chiSquareUpperTail, studentTCdf, studentTQuantile } from './distributions';
import { derSimonianLaird, nodeRatioPart, perNodeTable, pooledAurocDelong, pooledProportion, pooledRatio, replicateTagOf, scoreDistribution } from './pooling';

const GOLDEN = join(__dirname, '../../test/golden');
// R writes every double with %.17g as a string (a vector as "[…]"), so values round-trip exactly.
const num = (x: string | number): number => Number(x);
const nums = (x: string | number | (string | number)[]): number[] => {
  if (Array.isArray(x)) return x.map(num);
  if (typeof x === 'string' && x.startsWith('[')) return (JSON.parse(x) as number[]).map(num);
  return [num(x)];
};

interface MetaGolden {
  yi: number[];
  vi: number[];
  tau2: number;
  estimate: number;
  se: number;
  ci_lb: number;
  ci_ub: number;
  q: number;
  pQ: number;
  i2: number;
  weights: number[];
  /** Absent (R's NULL, written as {}) with fewer than 3 nodes. */
  prediction?: string | Record<string, never>;
}
const pooling = JSON.parse(readFileSync(join(GOLDEN, 'pooling-goldens.json'), 'utf8')) as {
  meta: Record<string, MetaGolden>;
  pchisq_upper: { x: number; df: number; upper: number }[];
  qt: { p: number; df: number; q: number }[];
  pt: { t: number; df: number; cdf: number }[];
};
const binary = JSON.parse(readFileSync(join(GOLDEN, 'binary-goldens.json'), 'utf8')) as {
  datasets: { name: string; labels: number[]; scores: number[]; pROC: { auc: number; var_delong: number; ci_auc_delong: [number, number] } }[];
};

const close = (actual: number, expected: number, rel: number): void => {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1e-300, Math.abs(expected)));
};

describe('distributions against R', () => {
  it('pchisq upper tail to 1e-12 relative', () => {
    for (const g of pooling.pchisq_upper) close(chiSquareUpperTail(num(g.x), num(g.df)), num(g.upper), 1e-12);
  });
  it('pt to 1e-12 relative', () => {
    for (const g of pooling.pt) close(studentTCdf(num(g.t), num(g.df)), num(g.cdf), 1e-12);
  });
  it('qt to 1e-12 relative', () => {
    for (const g of pooling.qt) close(studentTQuantile(num(g.p), num(g.df)), num(g.q), 1e-12);
  });
});

describe('derSimonianLaird against metafor::rma(method = "DL")', () => {
  for (const [name, g] of Object.entries(pooling.meta)) {
    it(name, () => {
      const yi = nums(g.yi);
      const vi = nums(g.vi);
      const r = derSimonianLaird(yi.map((y, i) => ({ node: `n${i}`, estimate: y, variance: vi[i] as number })));
      close(r.tau2 + 1, num(g.tau2) + 1, 1e-13); // τ² may be exactly 0
      close(r.estimate, num(g.estimate), 1e-12);
      close(r.se, num(g.se), 1e-12);
      close(r.ci[0], num(g.ci_lb), 1e-12);
      close(r.ci[1], num(g.ci_ub), 1e-12);
      close(r.q, num(g.q), 1e-12);
      close(r.pQ, num(g.pQ), 1e-11);
      close(r.i2 + 1, num(g.i2) + 1, 1e-12);
      nums(g.weights).forEach((w, i) => close(r.weights[i] as number, w, 1e-12));
      if (typeof g.prediction === 'string') {
        const [lo, hi] = nums(g.prediction);
        close(r.predictionInterval?.[0] as number, lo as number, 1e-12);
        close(r.predictionInterval?.[1] as number, hi as number, 1e-12);
        expect(r.method).toMatch(/prediction interval/);
      } else {
        expect(r.predictionInterval).toBeNull();
        expect(r.method).toMatch(/no prediction interval with fewer than 3 nodes/);
      }
    });
  }

  it('refuses one node, a zero or non-finite variance', () => {
    expect(() => derSimonianLaird([{ node: 'a', estimate: 0.9, variance: 0.01 }])).toThrow(/at least 2 nodes/);
    expect(() => derSimonianLaird([{ node: 'a', estimate: 0.9, variance: 0 }, { node: 'b', estimate: 0.8, variance: 0.01 }])).toThrow(/node a/);
    expect(() => derSimonianLaird([{ node: 'a', estimate: Number.NaN, variance: 0.01 }, { node: 'b', estimate: 0.8, variance: 0.01 }])).toThrow(/positive finite variance/);
  });
});

/** WDBC worst_area split over three "hospitals" by case index: the nodes see disjoint cases. */
function wdbcNodes(): { labels: number[]; scores: number[]; nodes: { labels: number[]; scores: number[] }[]; golden: (typeof binary.datasets)[number] } {
  const golden = binary.datasets.find((d) => d.name === 'wdbc-worst-area') as (typeof binary.datasets)[number];
  const nodes = [0, 1, 2].map(() => ({ labels: [] as number[], scores: [] as number[] }));
  golden.labels.forEach((y, i) => {
    const node = nodes[i < 150 ? 0 : i < 400 ? 1 : 2] as { labels: number[]; scores: number[] };
    node.labels.push(y);
    node.scores.push(golden.scores[i] as number);
  });
  return { labels: golden.labels, scores: golden.scores, nodes, golden };
}

describe('pooled AUROC from label-conditional score lists', () => {
  it('equals pROC on the union of three nodes (WDBC worst_area, n = 569) and the single-site computation', () => {
    const { labels, scores, nodes, golden } = wdbcNodes();
    const pooled = pooledAurocDelong(nodes.map((n) => scoreDistribution(n.labels, n.scores)));
    const single = aurocWithDelong({ labels, scores });
    expect(pooled.auc).toBe(single.auc); // half-integer rank sums: exact
    close(pooled.variance as number, single.variance as number, 1e-13);
    close(pooled.auc, golden.pROC.auc, 1e-12);
    close(pooled.variance as number, golden.pROC.var_delong, 1e-9);
    close(pooled.ci?.[0] as number, golden.pROC.ci_auc_delong[0], 1e-9);
    close(pooled.ci?.[1] as number, golden.pROC.ci_auc_delong[1], 1e-9);
    expect([pooled.nPositive, pooled.nNegative]).toEqual([212, 357]);
    expect(pooled.method).toMatch(/no case identifiers/);
  });

  it('does not depend on the order in which nodes report', () => {
    const { nodes } = wdbcNodes();
    const dists = nodes.map((n) => scoreDistribution(n.labels, n.scores));
    const a = pooledAurocDelong(dists);
    const b = pooledAurocDelong([...dists].reverse());
    expect(b).toEqual(a);
  });

  it('a node\'s score lists are sorted: they carry no case order', () => {
    const labels = [1, 0, 1, 0, 0, 1];
    const scores = [0.9, 0.2, 0.4, 0.7, 0.1, 0.8];
    const d = scoreDistribution(labels, scores);
    expect(d).toEqual({ positives: [0.4, 0.8, 0.9], negatives: [0.1, 0.2, 0.7] });
    const perm = [5, 3, 0, 4, 1, 2];
    expect(scoreDistribution(perm.map((i) => labels[i] as number), perm.map((i) => scores[i] as number))).toEqual(d);
  });

  it('refuses one class over all nodes and non-finite scores', () => {
    expect(() => pooledAurocDelong([{ positives: [0.2, 0.3], negatives: [] }, { positives: [0.9], negatives: [] }])).toThrow(/only positive/);
    expect(() => pooledAurocDelong([{ positives: [Number.NaN], negatives: [0.1] }])).toThrow(/not a finite number/);
    expect(() => scoreDistribution([1, 2], [0.1, 0.2])).toThrow(/expected 0 or 1/);
  });
});

describe('pooled ratios of sums', () => {
  it('a mean of per-case values pooled from sums equals the single-site mean; null values excluded on both sides', () => {
    const site = (seed: number, n: number): (number | null)[] => Array.from({ length: n }, (_, i) => ((i * 7919 + seed) % 13 === 0 ? null : ((i * 104729 + seed * 31) % 1000) / 1000));
    const sites = [site(1, 40), site(2, 75), site(3, 12)];
    const all = sites.flat().filter((v): v is number => v !== null);
    const pooled = pooledRatio(sites.map((s) => nodeRatioPart(s)));
    close(pooled.value as number, all.reduce((a, b) => a + b, 0) / all.length, 1e-15);
    expect(pooled.denominator).toBe(all.length);
    expect(pooled.ci).toBeNull();
    expect(pooled.method).toMatch(/not every node returned bootstrap replicates/);
  });

  it('the within-node bootstrap CI agrees with a single-site bootstrap stratified by node, within Monte Carlo error', () => {
    const site = (shift: number, n: number): number[] => Array.from({ length: n }, (_, i) => Math.min(1, Math.max(0, shift + 0.25 * Math.sin(i * 12.9898 + shift * 78.233))));
    const sites = [site(0.55, 60), site(0.75, 90), site(0.65, 30)];
    const B = 4000;
    const pooled = pooledRatio(sites.map((s, k) => nodeRatioPart(s, { replicates: B, seed: 1000 + k })));
    const values = sites.flat();
    const strata = sites.flatMap((s, k) => s.map(() => k));
    const reference = bootstrapCi((w) => {
      let num = 0;
      let den = 0;
      for (let i = 0; i < values.length; i++) {
        num += (w[i] as number) * (values[i] as number);
        den += w[i] as number;
      }
      return num / den;
    }, { n: values.length, replicates: B, seed: 7, strata });
    const [lo, hi] = pooled.ci as [number, number];
    const [rlo, rhi] = reference.ci as [number, number];
    close(pooled.value as number, values.reduce((a, b) => a + b, 0) / values.length, 1e-14);
    expect(lo).toBeLessThan(pooled.value as number);
    expect(hi).toBeGreaterThan(pooled.value as number);
    // Different draws of the same stratified bootstrap: the limits agree to a few per cent of the width.
    expect(Math.abs(lo - rlo)).toBeLessThan(0.06 * (rhi - rlo));
    expect(Math.abs(hi - rhi)).toBeLessThan(0.06 * (rhi - rlo));
    expect(pooled.method).toMatch(/stratified by node.*B = 4000/);
  });

  it('refuses replicates from one seed on two nodes, or different B', () => {
    const a = nodeRatioPart([0.1, 0.5, 0.9], { replicates: 50, seed: 3 });
    const b = nodeRatioPart([0.2, 0.4], { replicates: 50, seed: 3 });
    expect(() => pooledRatio([a, b])).toThrow(/same bootstrap seed/);
    const c = nodeRatioPart([0.2, 0.4], { replicates: 40, seed: 4 });
    expect(() => pooledRatio([a, c])).toThrow(/different numbers of bootstrap replicates/);
  });

  describe('replicate sums that leave a node do not give away its per-case values', () => {
    // Twelve per-case values (e.g. Dice) and B = 60 replicate sums: with the resampling weights, the values solve out.
    const values = [0.91, 0.42, 0.77, 0.05, 0.66, 0.88, 0.13, 0.5, 0.97, 0.31, 0.72, 0.24];
    const B = 60;
    const weightsOf = (options: { seed: number; key?: Uint8Array }): number[][] => {
      const rows: number[][] = [];
      forEachReplicate({ n: values.length, replicates: B, ...options }, (w) => rows.push(Array.from(w)));
      return rows;
    };
    /** Least squares W·v = sums by the normal equations (Gauss–Jordan): what a hub holding the weights would do. */
    const solve = (w: number[][], sums: readonly number[]): number[] => {
      const n = values.length;
      const a = Array.from({ length: n }, (_, i) => [...Array.from({ length: n }, (_, j) => w.reduce((t, r) => t + (r[i] as number) * (r[j] as number), 0)), w.reduce((t, r, b) => t + (r[i] as number) * (sums[b] as number), 0)]);
      for (let c = 0; c < n; c++) {
        let p = c;
        for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
        [a[c], a[p]] = [a[p]!, a[c]!];
        for (let r = 0; r < n; r++) {
          if (r === c) continue;
          const f = a[r]![c]! / a[c]![c]!;
          for (let k = c; k <= n; k++) a[r]![k] = a[r]![k]! - f * a[c]![k]!;
        }
      }
      return a.map((row, i) => row[n]! / row[i]!);
    };

    it('a searchable seed leaks them (the channel, shown): the tag names the seed, the weights regenerate, the values solve', () => {
      const part = nodeRatioPart(values, { replicates: B, seed: 4242 });
      let found: number | null = null;
      for (let s = 0; s < 10_000 && found === null; s++) if (replicateTagOf({ seed: s }) === part.replicates?.seedTag) found = s;
      expect(found).toBe(4242);
      const recovered = solve(weightsOf({ seed: found as number }), part.replicates?.numerators ?? []);
      recovered.forEach((v, i) => expect(v).toBeCloseTo(values[i] as number, 9));
    });

    it('a node resamples from a 256-bit key: its tag names no seed, and no seed regenerates its replicate sums', () => {
      const key = createHmac('sha256', Buffer.alloc(32, 7)).update('assay-node-bootstrap-key\u0000job\u00004242').digest();
      const part = nodeRatioPart(values, { replicates: B, seed: 4242, key });
      expect(part.replicates?.seedTag).toBe(replicateTagOf({ seed: 4242, key }));
      const sums = part.replicates?.numerators ?? [];
      for (let s = 0; s < 2_000; s++) {
        expect(replicateTagOf({ seed: s })).not.toBe(part.replicates?.seedTag);
        if (s % 200 === 0) {
          const w = weightsOf({ seed: s });
          const predicted = w.map((r) => r.reduce((t, x, i) => t + x * (values[i] as number), 0));
          expect(predicted).not.toEqual(sums);
        }
      }
      // The same key gives the same replicates (the node's operator can reproduce them); a key one bit off does not.
      expect(nodeRatioPart(values, { replicates: B, seed: 1, key }).replicates?.numerators).toEqual(sums);
      const flipped = Buffer.from(key);
      flipped[0] = (flipped[0] as number) ^ 1;
      expect(nodeRatioPart(values, { replicates: B, seed: 4242, key: flipped }).replicates?.numerators).not.toEqual(sums);
    });

    it('the keyed draws are the AES-256-CTR keystream read as little-endian uint32s, uniform over the bound, and need 32 bytes', () => {
      const key = Buffer.alloc(32, 0x5a);
      const stream = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(64));
      const draw = createKeyedRandomInt(key);
      for (let i = 0; i < 16; i++) expect(draw(1000)).toBe(Math.floor((stream.readUInt32LE(4 * i) / 2 ** 32) * 1000));
      const fresh = createKeyedRandomInt(Buffer.alloc(32, 1));
      const tally = new Array<number>(10).fill(0);
      for (let i = 0; i < 100_000; i++) tally[fresh(10)]! += 1;
      // χ² with 9 df: above 27.9 has probability 0.001.
      expect(tally.reduce((t, c) => t + (c - 10_000) ** 2 / 10_000, 0)).toBeLessThan(27.9);
      expect(() => createKeyedRandomInt(Buffer.alloc(16))).toThrow(/32 bytes/);
    });
  });

  it('proportions pooled from counts give the single-site Wilson interval (WDBC sensitivity at 880)', () => {
    const { nodes } = wdbcNodes();
    const parts = nodes.map((n) => {
      const pos = n.labels.map((y, i) => (y === 1 ? i : -1)).filter((i) => i >= 0);
      return { k: pos.filter((i) => (n.scores[i] as number) >= 880).length, n: pos.length };
    });
    const pooled = pooledProportion(parts);
    expect(pooled).toEqual({ ...proportionWithWilson(175, 212), k: 175, n: 212 });
    expect(() => pooledProportion([{ k: 3, n: 2 }])).toThrow(/impossible counts/);
  });

  it('refuses a negative or non-finite node sum; no defined case anywhere is not estimable', () => {
    expect(() => pooledRatio([{ numerator: 1, denominator: -1 }])).toThrow(/negative count/);
    expect(() => pooledRatio([{ numerator: Number.POSITIVE_INFINITY, denominator: 2 }])).toThrow(/not finite/);
    expect(pooledRatio([nodeRatioPart([null, null])])).toMatchObject({ value: null, ci: null, method: expect.stringMatching(/no defined case/) });
  });
});

describe('perNodeTable', () => {
  it('suppresses nodes below the minimum size and sorts by node; of two nodes, one small hides both', () => {
    const rows = perNodeTable(
      [
        { node: 'hospital-b', n: 120, value: 0.9, ci: [0.85, 0.95], method: 'm' },
        { node: 'hospital-a', n: 7, value: 0.5, ci: null, method: 'm' },
      ],
      10,
    );
    expect(rows).toEqual([
      { group: 'hospital-a', suppressed: true, n: '< 10' },
      { group: 'hospital-b', suppressed: true, n: 'withheld (complementary suppression)' },
    ]);
  });

  it('a suppressed site cannot be recovered from the exact pooled mean and the other sites: the next-smallest site is withheld too', () => {
    // The attack: the hub shows the exact pooled mean and N; with one site hidden, its mean is
    // (N·pooled − Σ shown n·value) / (N − Σ shown n). Per-case Dice of three sites, the small one below k = 10.
    const sites = { 'site-a': Array.from({ length: 40 }, (_, i) => 0.6 + (i % 7) / 20), 'site-b': Array.from({ length: 25 }, (_, i) => 0.5 + (i % 5) / 10), 'site-c': [0.1, 0.2, 0.15, 0.05] };
    const entries = Object.entries(sites);
    const pooled = pooledRatio(entries.map(([, v]) => nodeRatioPart(v)));
    const N = entries.reduce((a, [, v]) => a + v.length, 0);
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const rows = perNodeTable(entries.map(([node, v]) => ({ node, n: v.length, value: mean(v), ci: null, method: 'mean' })), 10);
    const shown = rows.filter((r): r is Extract<typeof r, { suppressed: false }> => !r.suppressed);
    // Without the complementary row the attack recovers site-c's mean exactly; with it, two unknowns remain.
    const recovered = (N * (pooled.value as number) - [{ n: 40, value: mean(sites['site-a']) }, { n: 25, value: mean(sites['site-b']) }].reduce((a, r) => a + r.n * r.value, 0)) / 4;
    expect(Math.abs(recovered - mean(sites['site-c']))).toBeLessThan(1e-12);
    expect(rows.map((r) => [r.group, r.suppressed, r.n])).toEqual([
      ['site-a', false, 40],
      ['site-b', true, 'withheld (complementary suppression)'],
      ['site-c', true, '< 10'],
    ]);
    expect(shown.map((r) => r.group)).toEqual(['site-a']);
  });

  it('never leaves exactly one site hidden among two or more (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 20 }), (ns, k) => {
        const rows = perNodeTable(ns.map((n, i) => ({ node: `node-${i}`, n, value: 0.5, ci: null, method: 'm' })), k);
        const hidden = rows.filter((r) => r.suppressed).length;
        const small = ns.filter((n) => n < k).length;
        // Only what must be hidden is: the small ones, plus one when exactly one is small.
        expect(hidden).toBe(small === 1 && ns.length >= 2 ? 2 : small);
      }),
    );
  });
});
