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
    expect(svg).toContain('rank 1 in 75.0% of replicates');
    expect(svg).toContain('95% rank interval 1 to 2');
  });

  it('disc area follows the share', () => {
    const svg = rankPlotSvg([{ label: 'a', rank: 1, medianRank: null, rankInterval: null, rankShare: [1, 0.25] }], { id: 'q', title: 't' }) as string;
    const radii = [...svg.matchAll(/<circle [^>]*r="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(radii).toHaveLength(2);
    expect((radii[0] as number) / (radii[1] as number)).toBeCloseTo(2, 0);
  });

  it('returns null when no entry has a bootstrap', () => {
    expect(rankPlotSvg([{ label: 'a', rank: 1, medianRank: null, rankInterval: null, rankShare: null }], { id: 'r', title: 't' })).toBeNull();
  });
});
