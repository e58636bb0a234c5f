// Builds the two reference vendor models for the `wdbc-malignancy` benchmark from its `sample` split:
//   <out>/logreg/{model.onnx,manifest.json}    L2 logistic regression on all 30 features
//   <out>/baseline/{model.onnx,manifest.json}  the same fit on one feature (BASELINE_FEATURE)
// Usage (after `npx tsc -p tsconfig.build.json`):
//   node dist/scripts/reference-models/build.js --sample test/fixtures/wdbc-sample.csv --out <dir>

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_LAMBDA, fitLogisticRegression, LogisticRegressionModel } from './logistic-regression';
import {
  buildFullLogisticRegressionOnnx,
  buildSingleFeatureLogisticRegressionOnnx,
  INPUT_NAME,
  OUTPUT_NAME,
} from './onnx-builder';
import { parseSampleCsv, WDBC_FEATURES, WdbcCase, WdbcFeature } from './wdbc-csv';

/**
 * The baseline's single feature. worst_concave_points rather than worst_area: it is a shape measure (the
 * severity of contour concavities, normalised for size), so it does not depend on the digitiser's pixel scale the
 * way an area in pixels^2 does, and it is heavy-tailed far less (worst_area spans ~185..4254, skewing a
 * standardised linear fit on a 20-case sample). Both separate M from B comparably well on their own (on the 549
 * non-sample cases the univariate AUROC of each is about 0.97), so the baseline is a fair but weaker yardstick.
 */
export const BASELINE_FEATURE: WdbcFeature = 'worst_concave_points';

export interface ModelManifest {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly inputs: { readonly features: string };
  readonly outputs: { readonly probability: string };
}

export interface BuiltModel {
  readonly dir: string;
  readonly modelPath: string;
  readonly manifestPath: string;
  readonly manifest: ModelManifest;
  readonly fit: LogisticRegressionModel;
}

export interface BuildReferenceModelsOptions {
  readonly sampleCsv: string;
  readonly outDir: string;
  /** L2 penalty on the standardised scale; default 1.0. */
  readonly lambda?: number;
}

export interface BuildReferenceModelsResult {
  readonly logreg: BuiltModel;
  readonly baseline: BuiltModel;
}

export const MODEL_VERSION = '1.0.0';

function classCounts(cases: readonly WdbcCase[]): { malignant: number; benign: number } {
  const malignant = cases.filter((c) => c.label === 1).length;
  return { malignant, benign: cases.length - malignant };
}

async function writeModel(dir: string, bytes: Uint8Array, manifest: ModelManifest, fit: LogisticRegressionModel): Promise<BuiltModel> {
  await mkdir(dir, { recursive: true });
  const modelPath = join(dir, 'model.onnx');
  const manifestPath = join(dir, 'manifest.json');
  await writeFile(modelPath, bytes);
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return { dir, modelPath, manifestPath, manifest, fit };
}

export async function buildReferenceModels(options: BuildReferenceModelsOptions): Promise<BuildReferenceModelsResult> {
  const lambda = options.lambda ?? DEFAULT_LAMBDA;
  const cases = parseSampleCsv(await readFile(options.sampleCsv, 'utf8'), options.sampleCsv);
  const { malignant, benign } = classCounts(cases);
  if (malignant === 0 || benign === 0) {
    throw new Error(`${options.sampleCsv}: the sample needs both classes, got ${malignant} malignant and ${benign} benign`);
  }
  const x = cases.map((c) => c.features);
  const y = cases.map((c) => c.label);
  const fitSummary = `n=${cases.length} (${malignant} malignant, ${benign} benign), L2 lambda=${lambda} on standardised features (intercept unpenalised), Newton/IRLS to 1e-10`;

  const full = fitLogisticRegression(x, y, { lambda });
  const fullDoc = `L2-regularised logistic regression on all ${WDBC_FEATURES.length} WDBC features (${WDBC_FEATURES.join(', ')}); ${fitSummary}; converged in ${full.iterations} iterations. Output: probability of malignancy.`;
  const logreg = await writeModel(
    join(options.outDir, 'logreg'),
    buildFullLogisticRegressionOnnx(full, { graphName: 'wdbc-logreg', docString: fullDoc }),
    {
      name: 'wdbc-logreg',
      version: MODEL_VERSION,
      description: `Reference model: ${fullDoc}`,
      inputs: { features: INPUT_NAME },
      outputs: { probability: OUTPUT_NAME },
    },
    full,
  );

  const featureIndex = WDBC_FEATURES.indexOf(BASELINE_FEATURE);
  const single = fitLogisticRegression(
    x.map((row) => [row[featureIndex] ?? Number.NaN]),
    y,
    { lambda },
  );
  const baselineDoc = `Baseline: L2-regularised logistic regression on the single feature ${BASELINE_FEATURE} (input column ${featureIndex} of ${WDBC_FEATURES.length}); ${fitSummary}; converged in ${single.iterations} iterations. Output: probability of malignancy.`;
  const baseline = await writeModel(
    join(options.outDir, 'baseline'),
    buildSingleFeatureLogisticRegressionOnnx(single, featureIndex, WDBC_FEATURES.length, {
      graphName: 'wdbc-baseline',
      docString: baselineDoc,
    }),
    {
      name: 'wdbc-baseline',
      version: MODEL_VERSION,
      description: `Reference model: ${baselineDoc}`,
      inputs: { features: INPUT_NAME },
      outputs: { probability: OUTPUT_NAME },
    },
    single,
  );

  return { logreg, baseline };
}

const USAGE = 'usage: node dist/scripts/reference-models/build.js --sample <sample.csv> --out <dir> [--lambda <number>]';

export async function main(argv: readonly string[]): Promise<number> {
  let values: { sample?: string; out?: string; lambda?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        sample: { type: 'string' },
        out: { type: 'string' },
        lambda: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.sample === undefined || values.out === undefined) {
    process.stderr.write(`--sample and --out are required\n${USAGE}\n`);
    return 2;
  }
  const lambda = values.lambda === undefined ? undefined : Number(values.lambda);
  if (lambda !== undefined && !(Number.isFinite(lambda) && lambda > 0)) {
    process.stderr.write(`--lambda must be a positive number, got "${values.lambda ?? ''}"\n`);
    return 2;
  }
  try {
    const result = await buildReferenceModels({ sampleCsv: values.sample, outDir: values.out, lambda });
    for (const built of [result.logreg, result.baseline]) {
      process.stdout.write(`${built.manifest.name}: ${built.modelPath} (${built.fit.iterations} Newton iterations)\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
