// A thread of the segmentation scoring pool (mask-pair-pool.ts): scores the mask pairs it is sent, one at a time.
import { parentPort } from 'node:worker_threads';
import { type MaskPairJob, scoreMaskPair } from './mask-pair';

parentPort?.on('message', (message: { id: number; job: MaskPairJob }) => {
  scoreMaskPair(message.job).then(
    (outcome) => parentPort?.postMessage({ id: message.id, outcome }),
    (e: unknown) => parentPort?.postMessage({ id: message.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
