// Fits the example's weights offline from the 20-case public sample (test/fixtures/wdbc-sample.csv, the cohort's
// `sample` split) with the facility's own reference fit, and writes weights.json next to this file:
//   npx tsc --outDir /tmp/fitw --rootDir . --module commonjs --target es2022 --esModuleInterop --skipLibCheck \
//     --types node sandbox-images/examples/wdbc-python/fit-weights.ts && node /tmp/fitw/sandbox-images/examples/wdbc-python/fit-weights.js
// (paths come from the working directory: run it from the repository root)
// A vendor would do this with their own tooling; only the resulting numbers go into the image.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fitLogisticRegression } from '../../../scripts/reference-models/logistic-regression';
import { parseSampleCsv, WDBC_FEATURES } from '../../../scripts/reference-models/wdbc-csv';

export function fitWeights(sampleCsv: string): { features: readonly string[]; mean: number[]; std: number[]; weights: number[]; intercept: number; lambda: number; n: number } {
  const cases = parseSampleCsv(readFileSync(sampleCsv, 'utf8'), sampleCsv);
  const fit = fitLogisticRegression(cases.map((c) => c.features), cases.map((c) => c.label), { lambda: 1 });
  return { features: WDBC_FEATURES, mean: [...fit.mean], std: [...fit.std], weights: [...fit.weights], intercept: fit.intercept, lambda: fit.lambda, n: fit.n };
}

if (require.main === module) {
  const root = process.cwd();
  const w = fitWeights(join(root, 'test', 'fixtures', 'wdbc-sample.csv'));
  writeFileSync(join(root, 'sandbox-images', 'examples', 'wdbc-python', 'weights.json'), JSON.stringify(w, null, 1) + '\n');
  process.stdout.write(`wrote weights.json (n=${w.n}, lambda=${w.lambda})\n`);
}
