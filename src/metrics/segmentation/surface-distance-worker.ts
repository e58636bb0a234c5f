// Worker half of computeSurfaceDistancesParallel: one direction's distances, the other runs on the calling thread.
import { parentPort } from 'node:worker_threads';
import { type Vec3 } from '../../volumes/volume';
import { distancesToNearest } from './surface-distances';

interface Job {
  readonly features: Int32Array;
  readonly queries: Int32Array;
  readonly q: Vec3;
  readonly spacing: [number, number, number];
}

parentPort?.on('message', (job: Job) => {
  const out = distancesToNearest(job.features, job.queries, job.q, job.spacing);
  parentPort?.postMessage(out, [out.buffer as ArrayBuffer]);
});
