// End-to-end scale check of `assay score --task binary` (issue 8): writes an n-case truth CSV and predictions JSONL,
// runs the scorer's testable core on them with real file reads, and prints one JSON line with seconds, peak RSS and
// the values the NumPy/scikit-learn reference (score_scale_reference.py) recomputes on the same files.
// Usage: node score-scale.js <n> <B> <dir> [gen]: `gen` only writes the files (run it as its own process, so the
// scoring process's peak RSS is the scorer's alone); without it, missing files are written first.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScore } from '../../src/cli/score.command';

function lcg(seed: number): () => number {
  let s = BigInt(seed);
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(s >> 11n) / 9007199254740992;
  };
}

const n = Number(process.argv[2] ?? 1_000_000);
const B = Number(process.argv[3] ?? 2000);
const dir = process.argv[4] ?? '/tmp/assay-score-scale';
mkdirSync(dir, { recursive: true });
const truthPath = join(dir, `truth-${n}.csv`);
const predPath = join(dir, `pred-${n}.jsonl`);
const genOnly = process.argv[5] === 'gen';
if (genOnly || !existsSync(truthPath) || !existsSync(predPath)) {
  const rnd = lcg(n);
  const truth: string[] = ['case_id,label'];
  const preds: string[] = [];
  for (let i = 0; i < n; i++) {
    const y = rnd() < 0.3 ? 1 : 0;
    // 4 decimals: ties, as real model outputs have.
    const p = Math.round((rnd() * 0.8 + 0.2 * y) * 1e4) / 1e4;
    truth.push(`c${i},${y}`);
    preds.push(JSON.stringify({ caseId: `c${i}`, probability: p }));
  }
  writeFileSync(truthPath, `${truth.join('\n')}\n`);
  writeFileSync(predPath, `${preds.join('\n')}\n`);
}
if (genOnly) process.exit(0);
const stderr: string[] = [];
let stdout = '';
const t0 = process.hrtime.bigint();
const code = runScore(
  { task: 'binary', truth: truthPath, predictions: predPath, bootstrap: String(B) },
  { readFile: (p) => readFileSync(p, 'utf8'), stdout: (t) => (stdout += t), stderr: (t) => stderr.push(t) },
);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const report = JSON.parse(stdout) as { metrics: Record<string, { value: number; ci: [number, number] | null }>; secondary?: { auroc_bootstrap: { ci: [number, number] } } };
console.log(
  JSON.stringify({
    name: `score-binary-n${n}-B${B}`,
    n,
    B,
    exit: code,
    seconds,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    truth: truthPath,
    predictions: predPath,
    progressLines: stderr.length,
    check: {
      auc: report.metrics['auroc']?.value,
      delongCi: report.metrics['auroc']?.ci,
      ap: report.metrics['auprc']?.value,
      brier: report.metrics['brier']?.value,
      aucBootCi: report.secondary?.auroc_bootstrap.ci,
    },
  }),
);
