/** One leaderboard entry's ranking uncertainty, as the leaderboard API reports it. */
export interface RankPlotRow {
  label: string;
  rank: number;
  medianRank: number | null;
  rankInterval: [number, number] | null;
  /** Share of bootstrap replicates per rank: index i is rank `rankShareFrom + i` (the API's sparse form; dense when from is 1). */
  rankShare: readonly number[] | null;
  /** The rank of rankShare[0] (1 when absent or null). */
  rankShareFrom?: number | null;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const fmt = (n: number): string => String(Math.round(n * 10) / 10);

/**
 * The rank-distribution ("blob") plot, challengeR-style, as a small inline SVG drawn on the server: one line per
 * entry, a disc per rank whose area is the share of bootstrap replicates with that rank, the 95% rank interval as a
 * bar and the median rank as a ring. Returns null when no entry has a bootstrap (nothing to draw). The plot is an
 * image with a text title and description; the table beside it carries the same numbers for screen readers.
 */
export function rankPlotSvg(rows: RankPlotRow[], opts: { id: string; title: string }): string | null {
  const drawn = rows.filter((r) => r.rankShare && r.rankShare.length > 0);
  if (drawn.length === 0) return null;
  const from = (r: RankPlotRow): number => r.rankShareFrom ?? 1;
  // Ranks 1 .. the last any row of this page reaches (its rank, interval, median or last share).
  const ranks = Math.max(rows.length, ...rows.map((r) => Math.max(r.rank, r.rankInterval?.[1] ?? 0, Math.ceil(r.medianRank ?? 0), r.rankShare && r.rankShare.length > 0 ? from(r) + r.rankShare.length - 1 : 0)));
  const left = 170;
  const cell = Math.max(24, Math.min(48, Math.floor(440 / ranks)));
  const rowH = 34;
  const top = 16;
  const width = left + cell * ranks + 16;
  const height = top + rowH * rows.length + 40;
  const maxR = Math.min(cell, rowH) / 2 - 1;
  const x = (rank: number): number => left + cell * (rank - 0.5);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="rank-plot" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${esc(opts.id)}-t ${esc(opts.id)}-d">`);
  parts.push(`<title id="${esc(opts.id)}-t">${esc(opts.title)}</title>`);
  parts.push(`<desc id="${esc(opts.id)}-d">${esc(rows.map((r) => `${r.label}: rank ${r.rank}${r.rankInterval ? `, 95% rank interval ${r.rankInterval[0]} to ${r.rankInterval[1]}` : ''}${r.medianRank !== null ? `, median rank ${r.medianRank}` : ''}`).join('; '))}</desc>`);
  for (let k = 1; k <= ranks; k++) {
    parts.push(`<line x1="${fmt(x(k))}" y1="${top}" x2="${fmt(x(k))}" y2="${top + rowH * rows.length}" stroke="#d0d5dd" stroke-width="1"/>`);
    parts.push(`<text x="${fmt(x(k))}" y="${top + rowH * rows.length + 16}" text-anchor="middle" font-size="12" fill="#1f2937">${k}</text>`);
  }
  parts.push(`<text x="${fmt(left + (cell * ranks) / 2)}" y="${height - 6}" text-anchor="middle" font-size="12" fill="#1f2937">rank (share of bootstrap replicates)</text>`);
  rows.forEach((r, i) => {
    const y = top + rowH * (i + 0.5);
    const label = r.label.length > 24 ? `${r.label.slice(0, 23)}…` : r.label;
    parts.push(`<text x="${left - 8}" y="${fmt(y + 4)}" text-anchor="end" font-size="12" fill="#1f2937">${esc(label)}</text>`);
    if (r.rankInterval) {
      parts.push(`<line x1="${fmt(x(r.rankInterval[0]))}" y1="${fmt(y)}" x2="${fmt(x(r.rankInterval[1]))}" y2="${fmt(y)}" stroke="#1d4ed8" stroke-width="2"/>`);
    }
    (r.rankShare ?? []).forEach((share, i) => {
      const j = from(r) - 1 + i;
      if (!(share > 0)) return;
      const radius = Math.max(1.5, maxR * Math.sqrt(Math.min(1, share)));
      parts.push(`<circle cx="${fmt(x(j + 1))}" cy="${fmt(y)}" r="${fmt(radius)}" fill="#1d4ed8" fill-opacity="0.55"><title>${esc(`${r.label}: rank ${j + 1} in ${(share * 100).toFixed(1)}% of replicates`)}</title></circle>`);
    });
    if (r.medianRank !== null) parts.push(`<circle cx="${fmt(x(r.medianRank))}" cy="${fmt(y)}" r="${fmt(maxR + 1)}" fill="none" stroke="#111827" stroke-width="1.5"/>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
