// Speed benchmark of the metric engine (see run.sh, which runs the NumPy/scikit-learn reference beside it).
// Prints one JSON line per workload: {"name", "seconds", "check"}; "check" lets run.sh compare results with the reference.
import { aurocWithDelong } from '../../src/metrics/binary-classification';
import { rankStability } from '../../src/metrics/ranking';
import { aurocBootstrap } from '../../src/metrics/weighted-binary';

function lcg(seed: number): () => number {
  // Same generator as bench_reference.py so both sides score the same data.
  let s = BigInt(seed);
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(s >> 11n) / 9007199254740992;
  };
}

function aurocWorkload(): void {
  const n = 100_000;
  const rnd = lcg(1);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rnd() < 0.3 ? 1 : 0;
    labels.push(y);
    // Rounded to 4 dp so there are ties, as real model outputs have.
    scores.push(Math.round((rnd() * 0.8 + 0.2 * y) * 1e4) / 1e4);
  }
  const t0 = process.hrtime.bigint();
  const d = aurocWithDelong({ labels, scores });
  const b = aurocBootstrap({ labels, scores }, { replicates: 2000, seed: 1 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ name: 'auroc-delong-bootstrap2000-n100k', seconds, check: { auc: d.auc, delongCi: d.ci, bootCi: b.ci } }));
}

function rankingWorkload(): void {
  const k = 50;
  const n = 500;
  const rnd = lcg(2);
  const values = Array.from({ length: k }, (_, s) => Array.from({ length: n }, () => 0.6 + 0.002 * s + 0.2 * rnd()));
  const t0 = process.hrtime.bigint();
  const r = rankStability({ values, direction: 'higher', method: 'aggregate-then-rank', replicates: 1000, seed: 1 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ name: 'rank-robustness-50x500-B1000', seconds, check: { tauMedian: r.kendallTau.median } }));
}

aurocWorkload();
rankingWorkload();
