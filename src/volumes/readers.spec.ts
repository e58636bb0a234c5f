// The readers against what nibabel, pydicom and plastimatch say about the same files
// (test/fixtures/volumes/make-volume-fixtures.py writes both the files and expected.json).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readVolume, readVolumeFile } from './read-volume';
import { Volume } from './volume';

const DIR = join(__dirname, '../../test/fixtures/volumes');
interface Expected {
  dims: number[];
  spacing: number[];
  origin: number[];
  direction: number[];
  voxels: { ijk: [number, number, number]; value: number }[];
  sum: number;
}
const EXPECTED = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, Expected>;

function expectMatches(v: Volume, e: Expected, exactSpacing: boolean): void {
  expect(v.dims).toEqual(e.dims);
  // Spacing is the header's float32 widened to float64, not rounded: exact equality, not closeness.
  if (exactSpacing) expect(v.spacing).toEqual(e.spacing);
  v.spacing.forEach((s, c) => expect(Math.abs(s - e.spacing[c]!)).toBeLessThan(1e-6));
  v.origin.forEach((o, c) => expect(Math.abs(o - e.origin[c]!)).toBeLessThan(1e-6));
  v.direction.forEach((d, c) => expect(Math.abs(d - e.direction[c]!)).toBeLessThan(1e-6));
  for (const { ijk, value } of e.voxels) {
    const [i, j, k] = ijk;
    expect(v.data[i + v.dims[0] * (j + v.dims[1] * k)]).toBeCloseTo(value, 4);
  }
  let sum = 0;
  for (const x of v.data) sum += x;
  expect(sum).toBeCloseTo(e.sum, 3);
}

describe('NIfTI reader against nibabel', () => {
  it.each(['oblique-int16.nii', 'oblique-int16.nii.gz', 'spacing06-float32.nii.gz', 'qform-only-uint8.nii', 'nifti2-float64-4d1.nii', 'bigendian-int16.nii'])('%s', (file) => {
    const { volume, format } = readVolumeFile(join(DIR, file));
    expect(format).toBe('nifti');
    expectMatches(volume, EXPECTED[file]!, true);
  });

  it('keeps 0.6 mm as the float32 value 0.6000000238…, not 0.6', () => {
    const { volume } = readVolumeFile(join(DIR, 'spacing06-float32.nii.gz'));
    expect(volume.spacing[0]).toBe(Math.fround(0.6));
    expect(volume.spacing[0]).not.toBe(0.6);
  });

  it('applies scl_slope/scl_inter to images, and keeps stored labels when asked', () => {
    const bytes = readFileSync(join(DIR, 'oblique-int16.nii.gz'));
    const scaled = readVolume({ name: 'ct.nii.gz', bytes }).volume;
    const raw = readVolume({ name: 'ct.nii.gz', bytes }, undefined, { labels: true }).volume;
    expect(raw.data).toBeInstanceOf(Int16Array);
    expectMatches(raw, EXPECTED['oblique-int16.nii.gz#raw']!, true);
    expect(scaled.data[0]).toBe(2 * raw.data[0]! - 1024);
  });

  it('reads a uint8 mask as uint8 labels', () => {
    const { volume } = readVolumeFile(join(DIR, 'mask-uint8.nii.gz'), undefined, { labels: true });
    expect(volume.data).toBeInstanceOf(Uint8Array);
    expectMatches(volume, EXPECTED['mask-uint8.nii.gz']!, true);
  });
});

describe('MetaImage reader against plastimatch (ITK)', () => {
  it.each(['oblique-int16.mha', 'oblique-int16.mhd', 'oblique-int16-compressed.mha'])('%s', (file) => {
    const { volume, format } = readVolumeFile(join(DIR, file));
    expect(format).toBe('metaimage');
    expectMatches(volume, EXPECTED[file]!, true);
  });
});

describe('DICOM series reader against pydicom and plastimatch', () => {
  const dir = join(DIR, 'dicom-ct');
  const names = readdirSync(dir).sort();
  const files = names.map((n) => readFileSync(join(dir, n)));

  it('sorts shuffled slices along the normal and applies the rescale intercept', () => {
    const { volume, format } = readVolume({ name: 'dicom-ct', files, names });
    expect(format).toBe('dicom');
    expectMatches(volume, EXPECTED['dicom-ct']!, false);
  });

  it('gives the same volume whatever the file order', () => {
    const a = readVolume({ name: 's', files }).volume;
    const b = readVolume({ name: 's', files: [...files].reverse() }).volume;
    expect(b).toEqual(a);
  });
});
