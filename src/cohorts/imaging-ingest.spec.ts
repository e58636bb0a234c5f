import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DomainError } from '../common/domain-error';
import { writeCohort } from '../phantoms/cohort';
import { encodeNifti1Gz } from '../volumes/nifti-write';
import { readVolume } from '../volumes/read-volume';
import { type CohortSource, type ImagingCohortDescriptorDto, lesionsCsv, planImagingIngest, validateImagingDescriptor } from './imaging-ingest';

const descriptorOf = (over: Record<string, unknown> = {}): ImagingCohortDescriptorDto =>
  validateImagingDescriptor({
    slug: 'phantoms-test',
    title: 'SYNTHETIC test phantoms',
    description: 'small',
    attribution: 'synthetic, CC0',
    format: 'imaging',
    synthetic: true,
    cases: 'cases.csv',
    idColumn: 'case_id',
    input: { name: 'ct', kind: 'volume', format: 'nifti', path: 'images/{caseId}.nii.gz' },
    truth: { mask: 'masks/{caseId}.nii.gz', lesions: 'lesions.csv' },
    metadataColumns: ['site', 'scanner', 'sex', 'age_band'],
    split: { seed: 7, sampleSize: 4, stratifyBy: 'scanner' },
    ...over,
  });

const folderSource = (root: string): CohortSource => ({
  read: (p) => readFile(join(root, p)),
  list: (folder) => readdir(join(root, folder)),
});

describe('planImagingIngest', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'assay-imaging-ingest-'));
    await writeCohort({ seed: 11, cases: 8, size: [40, 40, 16], outDir: dir });
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads, checks and canonicalises every case, and stratifies the sample by scanner', async () => {
    const plan = await planImagingIngest(descriptorOf(), folderSource(dir));
    expect(plan.cases).toHaveLength(8);
    const sample = plan.cases.filter((c) => c.split === 'sample');
    expect(sample).toHaveLength(4);
    // One case per scanner: 8 cases over 4 scanners, 2 each.
    expect(new Set(sample.map((c) => c.metadata.scanner)).size).toBe(4);
    for (const c of plan.cases) {
      const source = readVolume({ name: 'src.nii.gz', bytes: await readFile(join(dir, 'images', `${c.caseId}.nii.gz`)) }).volume;
      const canonical = readVolume({ name: 'canonical.nii.gz', bytes: c.image }).volume;
      expect(canonical.dims).toEqual(source.dims);
      expect(canonical.spacing).toEqual(source.spacing);
      canonical.origin.forEach((v, i) => expect(v).toBeCloseTo(source.origin[i] as number, 4));
      canonical.direction.forEach((v, i) => expect(v).toBeCloseTo(source.direction[i] as number, 6));
      expect(Buffer.from(canonical.data.buffer, canonical.data.byteOffset, canonical.data.byteLength).equals(Buffer.from(source.data.buffer, source.data.byteOffset, source.data.byteLength))).toBe(true);
      // The canonical header carries no text of the source (its description field is dropped).
      expect(gunzipSync(c.image).subarray(148, 228).toString('latin1')).not.toContain('SYNTHETIC');
      expect(c.mask).not.toBeNull();
    }
    expect(plan.cases.reduce((a, c) => a + c.lesions.length, 0)).toBeGreaterThan(0);
  });

  it('writes the lesion truth back in the offline scorer format, one empty row per lesion-free case', async () => {
    const plan = await planImagingIngest(descriptorOf(), folderSource(dir));
    const csv = lesionsCsv(plan.cases);
    expect(csv.split('\n')[0]).toBe('case_id,lesion_id,x,y,z,diameter_mm');
    for (const c of plan.cases.filter((x) => x.lesions.length === 0)) expect(csv).toContain(`${c.caseId},,,,,\n`);
  });

  const rejected = async (mutate: (d: string) => Promise<void>, expected: RegExp): Promise<void> => {
    const copy = await mkdtemp(join(tmpdir(), 'assay-imaging-bad-'));
    try {
      for (const sub of ['images', 'masks']) {
        await rm(join(copy, sub), { recursive: true, force: true });
        await (await import('node:fs/promises')).cp(join(dir, sub), join(copy, sub), { recursive: true });
      }
      for (const f of ['cases.csv', 'lesions.csv']) await writeFile(join(copy, f), await readFile(join(dir, f)));
      await mutate(copy);
      const error = await planImagingIngest(descriptorOf(), folderSource(copy)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect((error as Error).message).toMatch(/nothing was stored/);
      expect((error as Error).message).toMatch(expected);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  };
  const firstCase = async (d: string): Promise<string> => ((await readFile(join(d, 'cases.csv'), 'utf8')).split('\n')[1] as string).split(',')[0] as string;

  it('refuses a truncated image, naming the file', async () => {
    await rejected(async (d) => {
      const id = await firstCase(d);
      const f = join(d, 'images', `${id}.nii.gz`);
      const bytes = await readFile(f);
      await writeFile(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
    }, /images\/LP-\d+\.nii\.gz: truncated/);
  });

  it('refuses a PNG named .nii.gz', async () => {
    await rejected(async (d) => {
      await writeFile(join(d, 'images', `${await firstCase(d)}.nii.gz`), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    }, /format_mismatch|not_a_volume/);
  });

  it('refuses a mask on another grid than its image', async () => {
    await rejected(async (d) => {
      const id = await firstCase(d);
      const mask = readVolume({ name: 'm.nii.gz', bytes: await readFile(join(d, 'masks', `${id}.nii.gz`)) }, undefined, { labels: true }).volume;
      await writeFile(join(d, 'masks', `${id}.nii.gz`), encodeNifti1Gz({ ...mask, origin: [mask.origin[0] + 3, mask.origin[1], mask.origin[2]] }));
    }, /masks\/LP-\d+\.nii\.gz: .*origin/);
  });

  it('refuses a mask that is not 0/1', async () => {
    await rejected(async (d) => {
      const id = await firstCase(d);
      const mask = readVolume({ name: 'm.nii.gz', bytes: await readFile(join(d, 'masks', `${id}.nii.gz`)) }, undefined, { labels: true }).volume;
      const data = Uint8Array.from(mask.data as Uint8Array);
      data[5] = 2;
      await writeFile(join(d, 'masks', `${id}.nii.gz`), encodeNifti1Gz({ ...mask, data }));
    }, /is not a 0\/1 lesion mask/);
  });

  it('refuses a lesion centre outside its image and a case missing from lesions.csv', async () => {
    await rejected(async (d) => {
      const lines = (await readFile(join(d, 'lesions.csv'), 'utf8')).trim().split('\n');
      const id = await firstCase(d);
      const kept = lines.filter((l) => !l.startsWith(`${id},`));
      kept.push('LP-9999,L1,1,2,3,4');
      await writeFile(join(d, 'lesions.csv'), `${kept.join('\n')}\n`);
    }, /has no row.*|is not in cases\.csv/);
    await rejected(async (d) => {
      const id = await firstCase(d);
      const lines = (await readFile(join(d, 'lesions.csv'), 'utf8')).trim().split('\n').filter((l) => !l.startsWith(`${id},`));
      lines.push(`${id},L9,100000,0,0,5`);
      await writeFile(join(d, 'lesions.csv'), `${lines.join('\n')}\n`);
    }, /lies outside its image/);
  });

  it('names the field of a descriptor without ground truth', () => {
    expect(() => descriptorOf({ truth: {} })).toThrow(/truth: an imaging cohort needs/);
    expect(() => descriptorOf({ input: { name: 'ct', kind: 'volume', format: 'nifti', path: '/etc/{caseId}' } })).toThrow(/path must be a relative path/);
    expect(() => descriptorOf({ input: { name: 'ct', kind: 'volume', format: 'nifti', path: 'images/../../{caseId}' } })).toThrow(/path must be a relative path/);
  });
});
