/** Test oracles: independent re-computations that share no code with src/metrics. */

/** Independent AUROC: the fraction of (positive, negative) pairs ranked correctly, ties ½ (O(n²), no shared code). */
export function pairCountAuroc(labels: number[], scores: number[]): number {
  let num = 0;
  let pairs = 0;
  labels.forEach((yi, i) => {
    if (yi !== 1) return;
    labels.forEach((yj, j) => {
      if (yj !== 0) return;
      pairs++;
      const si = scores[i] as number;
      const sj = scores[j] as number;
      num += si > sj ? 1 : si === sj ? 0.5 : 0;
    });
  });
  return num / pairs;
}
