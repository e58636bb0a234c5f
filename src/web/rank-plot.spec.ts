import { rankPlotSvg } from './rank-plot';

describe('rankPlotSvg', () => {
  it('draws one disc per rank with a share, the interval and the median, and escapes labels', () => {
    const svg = rankPlotSvg(
      [
        { label: 'Acme <b>"x"</b>', rank: 1, medianRank: 1, rankInterval: [1, 2], rankShare: [0.75, 0.25] },
        { label: 'Other', rank: 2, medianRank: 2, rankInterval: [1, 2], rankShare: [0.25, 0.75] },
      ],
      { id: 'p', title: 'Rank distribution' },
    ) as string;
    expect(svg).toContain('role="img"');
    expect(svg).toContain('<title id="p-t">Rank distribution</title>');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('Acme &lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    // 4 shares > 0 plus 2 median rings.
    expect(svg.match(/<circle /g)).toHaveLength(6);
    expect(svg).toContain('most frequent ranks 1 (75.0% of replicates), 2 (25.0% of replicates)');
    expect(svg).toContain('95% rank interval 1 to 2');
  });

  it('disc area follows the share', () => {
    const svg = rankPlotSvg([{ label: 'a', rank: 1, medianRank: null, rankInterval: null, rankShare: [1, 0.25] }], { id: 'q', title: 't' }) as string;
    const radii = [...svg.matchAll(/<circle [^>]*r="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(radii).toHaveLength(2);
    expect((radii[0] as number) / (radii[1] as number)).toBeCloseTo(2, 0);
  });

  it('stays small on a large board: the first 30 rows, discs for shares of 0.5% or more, a tick every 1/2/5×10ⁿ ranks', () => {
    // 100 rows of a 1,000-entry board, each spread over 150 ranks around its own (shares sum to 1).
    const rows = Array.from({ length: 100 }, (_, i) => {
      const shares = Array.from({ length: 150 }, (_, j) => Math.exp(-(((j - 75) / 30) ** 2)));
      const sum = shares.reduce((a, b) => a + b, 0);
      return { label: `org ${i} · sub`, rank: i + 1, medianRank: i + 76, rankInterval: [i + 30, i + 120] as [number, number], rankShare: shares.map((v) => v / sum), rankShareFrom: i + 1 };
    });
    const svg = rankPlotSvg(rows, { id: 'big', title: 'Rank distribution' }) as string;
    expect(svg.length).toBeLessThan(200_000);
    expect(svg.match(/<g>/g)).toHaveLength(30);
    expect(svg).toContain('The first 30 of 100 entries on this page are drawn.');
    expect(svg).not.toContain('org 30 · sub');
    const drawnShares = rows.slice(0, 30).reduce((n, r) => n + r.rankShare.filter((v) => v >= 0.005).length, 0);
    const discs = [...svg.matchAll(/<g class="discs" fill="#1d4ed8" fill-opacity="0.55" transform="translate\(0 [\d.]+\)">(.*?)<\/g>/g)];
    expect(discs).toHaveLength(30);
    expect(discs.reduce((n, m) => n + ((m[1] as string).match(/<circle cx="[\d.]+" r="[\d.]+"\/>/g) ?? []).length, 0)).toBe(drawnShares);
    // A disc is its centre and radius (the group carries fill and line): about 30 bytes each, not 75.
    expect(svg.length).toBeLessThan(40 * drawnShares + 20_000);
    // Ranks reach 30 + 150 − 1 = 179 at most: ticks at 1, 10, 20, …, 170.
    const ticks = [...svg.matchAll(/<text [^>]*text-anchor="middle" font-size="12" fill="#1f2937">(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(ticks[0]).toBe(1);
    expect(ticks.slice(1).every((t) => t % 10 === 0)).toBe(true);
    expect(ticks.length).toBeLessThanOrEqual(21);
  });

  it('returns null when no entry has a bootstrap', () => {
    expect(rankPlotSvg([{ label: 'a', rank: 1, medianRank: null, rankInterval: null, rankShare: null }], { id: 'r', title: 't' })).toBeNull();
  });
});
