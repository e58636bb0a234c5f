import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The data directory holds the embedded object store (truth files, models, images) and the sandbox work dirs: owner
 * only (0700), so no other user of the host can read into it whatever mode a file below it has. The sandbox's own
 * directories must stay 0755 for the container's non-root user; that is safe only because this parent is closed.
 */
export function securePrivateDirs(dataDir: string): void {
  for (const dir of [dataDir, join(dataDir, 's3'), join(dataDir, 'work')]) {
    mkdirSync(resolve(dir), { recursive: true, mode: 0o700 });
    chmodSync(resolve(dir), 0o700);
  }
}
