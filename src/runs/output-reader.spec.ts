import { mkdtempSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TEXT_OUTPUT_BYTES, readCapped } from '../sandbox/output-dir';
import { SEGMENTATION } from '../tasks/segmentation/segmentation.task';
import { MAX_OUTPUT_FILE_BYTES, OutputTooLargeError } from '../tasks/task-definition';
import { outputReader } from './batch-executor';

// A vendor's outputs are refused by their size before any byte is read into memory: sparse files stand in for huge
// ones (their apparent size is what counts), so these tests cost no disk.
describe('reading a vendor’s outputs after release', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'assay-out-'));
    mkdirSync(join(dir, 'masks'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a mask over the task’s limit as the vendor’s invalid output, without reading it', async () => {
    const mask = join(dir, 'masks', 'c1.nii.gz');
    writeFileSync(mask, '');
    truncateSync(mask, 300 * 1024 * 1024);
    const parsed = await SEGMENTATION.parsePredictions({ text: '', caseIds: ['c1'], output: outputReader(dir) });
    expect(parsed).toEqual({ ok: false, message: `masks/c1.nii.gz: ${300 * 1024 * 1024} bytes, more than ${256 * 1024 * 1024}` });
  });

  it('never reads a file over MAX_OUTPUT_FILE_BYTES, whatever a task asks for; paths outside /output are not read', async () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, MAX_OUTPUT_FILE_BYTES + 1);
    const read = outputReader(dir);
    await expect(read('big.bin', { maxBytes: 4 * MAX_OUTPUT_FILE_BYTES })).rejects.toBeInstanceOf(OutputTooLargeError);
    await expect(read('../etc/passwd')).resolves.toBeNull();
    writeFileSync(join(dir, 'small.txt'), 'ok');
    await expect(read('small.txt')).resolves.toEqual(Buffer.from('ok'));
  });

  it('reads predictions text only up to MAX_TEXT_OUTPUT_BYTES, even when the benchmark allows gigabytes of output', async () => {
    const file = join(dir, 'predictions.jsonl');
    writeFileSync(file, '');
    truncateSync(file, MAX_TEXT_OUTPUT_BYTES + 1);
    await expect(readCapped(file, 10 * 1024 * 1024 * 1024)).resolves.toBeNull();
    truncateSync(file, 16);
    await expect(readCapped(file, 10 * 1024 * 1024 * 1024)).resolves.toBe('\u0000'.repeat(16));
  });
});
