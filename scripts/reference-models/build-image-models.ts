// Writes the example image models with their runner manifests:
//   <out>/lesion-seg/{model.onnx,manifest.json}   segmentation (mask output)
//   <out>/lesion-det/{model.onnx,manifest.json}   detection (heatmap -> points)
// Usage: node dist/scripts/reference-models/build-image-models.js --out <dir>
// The copies under test/fixtures/onnx/ are this script's output (image-models.spec.ts checks they still are).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BuiltImageModel, lesionDetectionModel, lesionSegmentationModel } from './image-models';

export async function writeImageModel(dir: string, model: BuiltImageModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), model.onnx);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(model.manifest, null, 2) + '\n');
}

export async function buildImageModels(outDir: string): Promise<void> {
  await writeImageModel(join(outDir, 'lesion-seg'), lesionSegmentationModel());
  await writeImageModel(join(outDir, 'lesion-det'), lesionDetectionModel());
}

if (require.main === module) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  if (!values.out) {
    process.stderr.write('usage: build-image-models --out <dir>\n');
    process.exit(2);
  }
  buildImageModels(values.out).then(
    () => process.stdout.write(`wrote lesion-seg and lesion-det under ${values.out}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
