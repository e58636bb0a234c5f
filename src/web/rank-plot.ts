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

/** The plot draws this many rows at most (the page's first); the table beside it lists every row's interval. */
export const RANK_PLOT_MAX_ROWS = 30;
/** Shares below this are not drawn as discs (a disc of that area is under a pixel); the row's title keeps the rest. */
export const RANK_PLOT_MIN_SHARE = 0.005;
/** The rank axis's width in px, whatever the number of ranks (a disc's cell shrinks as ranks grow, to 6 px). */
const AXIS_WIDTH = 640;

/** 1, 2, 5, 10, 20, 50, … : the smallest such step giving at most `maxTicks` ticks over `ranks`. */
function tickStep(ranks: number, maxTicks: number): number {
  for (let p = 1; ; p *= 10) for (const m of [1, 2, 5]) if (ranks / (m * p) <= maxTicks) return m * p;
}

/**
 * The rank-distribution ("blob") plot, challengeR-style, as a small inline SVG drawn on the server: one line per
 * entry, a disc per rank whose area is the share of bootstrap replicates with that rank, the 95% rank interval as a
 * bar and the median rank as a ring. Returns null when no entry has a bootstrap (nothing to draw). The plot is an
 * image with a text title and description, and one title per row naming its most frequent ranks; the table beside it
 * carries the same numbers for screen readers.
 *
 * Bounded for large boards: at most RANK_PLOT_MAX_ROWS rows, discs for shares of at least RANK_PLOT_MIN_SHARE, a
 * fixed-width axis with a tick every 1/2/5×10ⁿ ranks. On a 1,000-entry board one row's shares spread over a hundred
 * ranks; drawn in full, a 100-row page's plot was megabytes of SVG.
 */
export function rankPlotSvg(allRows: RankPlotRow[], opts: { id: string; title: string }): string | null {
  const rows = allRows.slice(0, RANK_PLOT_MAX_ROWS);
  const drawn = rows.filter((r) => r.rankShare && r.rankShare.length > 0);
  if (drawn.length === 0) return null;
  const from = (r: RankPlotRow): number => r.rankShareFrom ?? 1;
  const lastDrawn = (r: RankPlotRow): number => {
    const shares = r.rankShare ?? [];
    for (let i = shares.length - 1; i >= 0; i--) if ((shares[i] as number) >= RANK_PLOT_MIN_SHARE) return from(r) + i;
    return 0;
  };
  // Ranks 1 .. the last any plotted row reaches (its rank, interval, median or last drawn share).
  const ranks = Math.max(rows.length, ...rows.map((r) => Math.max(r.rank, r.rankInterval?.[1] ?? 0, Math.ceil(r.medianRank ?? 0), lastDrawn(r))));
  const left = 170;
  const cell = Math.max(6, Math.min(48, AXIS_WIDTH / ranks));
  const rowH = 34;
  const top = 16;
  const width = Math.ceil(left + cell * ranks + 16);
  const height = top + rowH * rows.length + 40;
  const maxR = Math.min(cell, rowH) / 2 - 0.5;
  const x = (rank: number): number => left + cell * (rank - 0.5);
  const step = tickStep(ranks, 20);
  const parts: string[] = [];
  const id = esc(opts.id);
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="rank-plot" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${id}-t ${id}-d">`);
  parts.push(`<title id="${id}-t">${esc(opts.title)}</title>`);
  const shown = allRows.length > rows.length ? `The first ${rows.length} of ${allRows.length} entries on this page are drawn. ` : '';
  parts.push(`<desc id="${id}-d">${esc(`${shown}Discs show ranks held in at least ${RANK_PLOT_MIN_SHARE * 100}% of replicates. ${rows.map((r) => `${r.label}: rank ${r.rank}${r.rankInterval ? `, 95% rank interval ${r.rankInterval[0]} to ${r.rankInterval[1]}` : ''}${r.medianRank !== null ? `, median rank ${r.medianRank}` : ''}`).join('; ')}`)}</desc>`);
  for (let k = 1; k <= ranks; k++) {
    if (k !== 1 && k % step !== 0) continue;
    parts.push(`<line x1="${fmt(x(k))}" y1="${top}" x2="${fmt(x(k))}" y2="${top + rowH * rows.length}" stroke="#d0d5dd" stroke-width="1"/>`);
    parts.push(`<text x="${fmt(x(k))}" y="${top + rowH * rows.length + 16}" text-anchor="middle" font-size="12" fill="#1f2937">${k}</text>`);
  }
  parts.push(`<text x="${fmt(left + (cell * ranks) / 2)}" y="${height - 6}" text-anchor="middle" font-size="12" fill="#1f2937">rank (share of bootstrap replicates)</text>`);
  rows.forEach((r, i) => {
    const y = top + rowH * (i + 0.5);
    const label = r.label.length > 24 ? `${r.label.slice(0, 23)}…` : r.label;
    const shares = (r.rankShare ?? []).map((share, j) => ({ rank: from(r) + j, share }));
    const frequent = shares.filter((s) => s.share > 0).sort((a, b) => b.share - a.share || a.rank - b.rank).slice(0, 3);
    const summary = `${r.label}: rank ${r.rank}${r.rankInterval ? `, 95% rank interval ${r.rankInterval[0]}–${r.rankInterval[1]}` : ''}${frequent.length > 0 ? `; most frequent ranks ${frequent.map((s) => `${s.rank} (${(s.share * 100).toFixed(1)}% of replicates)`).join(', ')}` : ''}`;
    parts.push(`<g><title>${esc(summary)}</title>`);
    parts.push(`<text x="${left - 8}" y="${fmt(y + 4)}" text-anchor="end" font-size="12" fill="#1f2937">${esc(label)}</text>`);
    if (r.rankInterval) {
      parts.push(`<line x1="${fmt(x(r.rankInterval[0]))}" y1="${fmt(y)}" x2="${fmt(x(r.rankInterval[1]))}" y2="${fmt(y)}" stroke="#1d4ed8" stroke-width="2"/>`);
    }
    // The row's discs share one group: its fill and its line (cy 0, moved down by the group), so a disc is only its
    // centre and radius. A 30-row plot of a 1,000-entry board draws about 1,900 discs; with every attribute on every
    // disc they were 147 KB of the page's 219 KB.
    const discs: string[] = [];
    for (const { rank, share } of shares) {
      if (!(share >= RANK_PLOT_MIN_SHARE)) continue;
      const radius = Math.max(1, maxR * Math.sqrt(Math.min(1, share)));
      discs.push(`<circle cx="${fmt(x(rank))}" r="${fmt(radius)}"/>`);
    }
    if (discs.length > 0) parts.push(`<g class="discs" fill="#1d4ed8" fill-opacity="0.55" transform="translate(0 ${fmt(y)})">${discs.join('')}</g>`);
    if (r.medianRank !== null) parts.push(`<circle cx="${fmt(x(r.medianRank))}" cy="${fmt(y)}" r="${fmt(maxR + 1)}" fill="none" stroke="#111827" stroke-width="1.5"/>`);
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('');
}
