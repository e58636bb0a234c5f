// Times Assay's HD95 + NSD + ASSD on the benchmark mask pair written by `reference.py make DIR` (raw uint8, i fastest).
// Prints one JSON line like reference.py, plus peak RSS. Usage: node dist/perf/segmentation/bench.js DIR [RUNS]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_DIRECTION, type Volume } from '../../src/volumes/volume';
import { surfaceMetrics } from '../../src/metrics/segmentation/segmentation-metrics';
import { computeSurfaceDistances, computeSurfaceDistancesParallel } from '../../src/metrics/segmentation/surface-distances';

const dir = process.argv[2] ?? '/tmp/segperf';
const runs = Number(process.argv[3] ?? 3);
const parallel = process.argv[4] !== 'serial';
const dims: [number, number, number] = [512, 512, 300];
const spacing: [number, number, number] = [0.7, 0.7, 1.0];
const tau = 2.0;

function volume(name: string): Volume {
  const buf = readFileSync(join(dir, `${name}.u8`));
  return { dims, spacing, origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}

async function main(): Promise<void> {
  const gt = volume('gt');
  const pred = volume('pred');
  const times: number[] = [];
  let values = { hd95: NaN, nsd: NaN, assd: NaN };
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const sd = parallel ? await computeSurfaceDistancesParallel(gt, pred, spacing) : computeSurfaceDistances(gt, pred, spacing);
    const m = surfaceMetrics(sd, tau);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    values = { hd95: m.hd95, nsd: m.nsd, assd: m.assd };
  }
  times.sort((a, b) => a - b);
  const seconds = times[Math.floor(times.length / 2)] as number;
  console.log(JSON.stringify({ name: parallel ? 'assay' : 'assay-serial', seconds, allSeconds: times, ...values, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

void main();
