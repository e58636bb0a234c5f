// Files that are not what they claim, cut short, decompression bombs, escaping data-file names, broken DICOM series and
// mismatched grids: each is refused at ingestion with its code and a message naming the file and the problem.
// Hostile bytes are derived here from the committed fixtures; nothing big is committed.
import * as dicomParser from 'dicom-parser';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, deflateSync } from 'node:zlib';
import { checkSameGeometry } from './geometry';
import { readVolume, readVolumeFile, VolumeInput } from './read-volume';
import { VolumeError, VolumeErrorCode } from './volume-error';

const DIR = join(__dirname, '../../test/fixtures/volumes');
const fixture = (name: string): Buffer => readFileSync(join(DIR, name));

function refusal(input: VolumeInput, limits?: Parameters<typeof readVolume>[1]): VolumeError {
  try {
    readVolume(input, limits);
  } catch (error) {
    if (error instanceof VolumeError) return error;
    throw error;
  }
  throw new Error(`${input.name} was accepted`);
}

function expectRefused(input: VolumeInput, code: VolumeErrorCode, message: RegExp, limits?: Parameters<typeof readVolume>[1]): void {
  const error = refusal(input, limits);
  expect({ code: error.code, message: error.message }).toEqual({ code, message: expect.stringMatching(message) });
  expect(error.message).toContain(input.name);
}

/** NIfTI-1 header of the oblique fixture with dims/datatype rewritten (little-endian, as nibabel wrote it). */
function niftiHeader(dims: number[], datatype: number, bitpix: number): Buffer {
  const header = Buffer.from(fixture('oblique-int16.nii').subarray(0, 352));
  dims.forEach((d, n) => header.writeInt16LE(d, 40 + 2 * n));
  header.writeInt16LE(datatype, 70);
  header.writeInt16LE(bitpix, 72);
  return header;
}

describe('files that are not what they claim', () => {
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
  it('a PNG named .nii.gz', () => expectRefused({ name: 'scan.nii.gz', bytes: png }, 'format_mismatch', /gzip-compressed NIfTI.*PNG image/));
  it('text named .nii.gz', () => expectRefused({ name: 'notes.nii.gz', bytes: Buffer.from('patient 7, left lung\n') }, 'format_mismatch', /content is text/));
  it('gzip of text named .nii.gz', () => expectRefused({ name: 'notes.nii.gz', bytes: gzipSync(Buffer.alloc(2000, 'x')) }, 'format_mismatch', /gzip data that does not contain a NIfTI/));
  it('a .nii.gz named .nii', () => expectRefused({ name: 'ct.nii', bytes: fixture('oblique-int16.nii.gz') }, 'format_mismatch', /must end in \.nii\.gz.*gzip data/));
  it('a NIfTI named .mha', () => expectRefused({ name: 'ct.mha', bytes: fixture('oblique-int16.nii') }, 'format_mismatch', /MetaImage.*NIfTI/));
  it('a PNG with no extension', () => expectRefused({ name: 'upload', bytes: png }, 'not_a_volume', /PNG image, not a NIfTI, MetaImage or DICOM/));
  it('a PNG among DICOM slices', () => expectRefused({ name: 'series', files: [fixture('dicom-ct/slice-0.dcm'), png], names: ['a.dcm', 'b.dcm'] }, 'format_mismatch', /series\/b\.dcm: a PNG image, not a DICOM/));
});

describe('truncated files', () => {
  it('a .nii cut mid-data', () => {
    const nii = fixture('oblique-int16.nii');
    expectRefused({ name: 'cut.nii', bytes: nii.subarray(0, 600) }, 'truncated', /declares 772 bytes.*has 600/);
  });
  it('a .nii and a .nii.gz cut inside the header', () => {
    const nii = fixture('oblique-int16.nii');
    expectRefused({ name: 'cut.nii', bytes: nii.subarray(0, 200) }, 'truncated', /truncated inside the NIfTI header \(200 bytes\)/);
    expectRefused({ name: 'cut.nii.gz', bytes: gzipSync(nii.subarray(0, 200)) }, 'truncated', /truncated inside the NIfTI header \(200 bytes after decompression\)/);
  });
  it('a .nii.gz cut mid-stream', () => {
    const gz = fixture('oblique-int16.nii.gz');
    expectRefused({ name: 'cut.nii.gz', bytes: gz.subarray(0, gz.length - 100) }, 'truncated', /gzip stream ends early/);
  });
  it('a .nii.gz whose complete stream holds too few voxels', () => {
    const short = gzipSync(fixture('oblique-int16.nii').subarray(0, 700));
    expectRefused({ name: 'short.nii.gz', bytes: short }, 'truncated', /declares 772 bytes.*decompressed file has 700/);
  });
  it('a compressed .mha cut mid-stream', () => {
    const mha = fixture('oblique-int16-compressed.mha');
    expectRefused({ name: 'cut.mha', bytes: mha.subarray(0, mha.length - 50) }, 'truncated', /CompressedDataSize \d+, \d+ bytes present/);
  });
  it('a DICOM slice cut in its pixel data', () => {
    const dcm = fixture('dicom-ct/slice-0.dcm');
    expectRefused({ name: 'series', files: [dcm.subarray(0, dcm.length - 64)], names: ['cut.dcm'] }, 'truncated', /series\/cut\.dcm: .*buffer overrun/);
  });
});

describe('decompression bombs and sizes over the limits', () => {
  const peakKb = (): number => process.resourceUsage().maxRSS;

  it('a .nii.gz whose header declares 2048³ float64 (64 GiB) is refused from the header', () => {
    const bomb = gzipSync(Buffer.concat([niftiHeader([3, 2048, 2048, 2048, 1, 1, 1, 1], 64, 64), Buffer.alloc(4096)]));
    const before = peakKb();
    expectRefused({ name: 'bomb.nii.gz', bytes: bomb }, 'too_large', /declares 8589934592 voxels, over the limit/);
    expect(peakKb() - before).toBeLessThan(64 * 1024);
  });

  it('a small .nii.gz that inflates to 2 GiB is stopped at the size its header declares', () => {
    // Concatenated gzip members (legal, and inflated as one stream): a real header, then 128 × 16 MiB of zeros.
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const bomb = Buffer.concat([gzipSync(fixture('oblique-int16.nii')), ...new Array<Buffer>(128).fill(zeros)]);
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const before = peakKb();
    const arrays = process.memoryUsage().arrayBuffers;
    expectRefused({ name: 'bomb.nii.gz', bytes: bomb }, 'too_large', /inflates to more than the 772 bytes its NIfTI header declares/);
    expect(peakKb() - before).toBeLessThan(128 * 1024); // KiB: far below the 2 GiB it would inflate to
    expect(process.memoryUsage().arrayBuffers - arrays).toBeLessThan(32 * 1024 * 1024);
  });

  it('a compressed .mha whose stream inflates past its DimSize', () => {
    const header = 'ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\nCompressedData = True\n';
    const payload = deflateSync(Buffer.alloc(64 * 1024 * 1024));
    const mha = Buffer.concat([Buffer.from(`${header}CompressedDataSize = ${payload.length}\nElementDataFile = LOCAL\n`), payload]);
    const before = peakKb();
    expectRefused({ name: 'bomb.mha', bytes: mha }, 'too_large', /inflate to more than the 64 bytes/);
    expect(peakKb() - before).toBeLessThan(32 * 1024);
  });

  it('the caller sets the limits', () => {
    expectRefused({ name: 'ct.nii.gz', bytes: fixture('oblique-int16.nii.gz') }, 'too_large', /declares 210 voxels, over the limit of 100/, { maxVoxels: 100 });
    expectRefused({ name: 'ct.mha', bytes: fixture('oblique-int16.mha') }, 'too_large', /420 bytes of voxel data, over the limit of 400/, { maxBytes: 400 });
    const names = readdirSync(join(DIR, 'dicom-ct'));
    expectRefused({ name: 'series', files: names.map((n) => fixture(`dicom-ct/${n}`)) }, 'too_large', /768 voxels, over the limit of 500/, { maxVoxels: 500 });
  });
});

describe('unsupported NIfTI content', () => {
  const body = Buffer.alloc(7 * 6 * 5 * 16);
  it('a complex datatype', () => expectRefused({ name: 'c.nii', bytes: Buffer.concat([niftiHeader([3, 7, 6, 5, 1, 1, 1, 1], 1792, 128), body]) }, 'unsupported', /datatype 1792 is not supported/));
  it('a 4-D series of 3 volumes', () => expectRefused({ name: 't.nii', bytes: Buffer.concat([niftiHeader([4, 7, 6, 5, 3, 1, 1, 1], 4, 16), body]) }, 'unsupported', /4-D NIfTI with dims \[7, 6, 5, 3\]/));
  it('but reads a 2-D image as one slice', () => {
    const { volume } = readVolume({ name: 'xray.nii', bytes: Buffer.concat([niftiHeader([2, 7, 6, 1, 1, 1, 1, 1], 4, 16), Buffer.alloc(7 * 6 * 2, 1)]) });
    expect(volume.dims).toEqual([7, 6, 1]);
  });
  it('a negative dimension', () => expectRefused({ name: 'n.nii', bytes: Buffer.concat([niftiHeader([3, 7, -6, 5, 1, 1, 1, 1], 4, 16), body]) }, 'not_a_volume', /dim\[2\] = -6/));
  it('a non-finite origin (the offset of srow_x NaN, or of qoffset infinite)', () => {
    const sform = Buffer.from(fixture('oblique-int16.nii'));
    expect(sform.readInt16LE(254)).toBeGreaterThan(0); // sform_code: the sform decides the grid
    sform.writeFloatLE(Number.NaN, 280 + 12);
    expectRefused({ name: 's.nii', bytes: sform }, 'not_a_volume', /sform origin \[NaN, .*\] is not finite/);
    const qform = Buffer.from(fixture('oblique-int16.nii'));
    qform.writeInt16LE(0, 254); // no sform: the qform decides
    qform.writeInt16LE(1, 252);
    qform.writeFloatLE(Number.POSITIVE_INFINITY, 268 + 4); // qoffset_y
    expectRefused({ name: 'q.nii', bytes: qform }, 'not_a_volume', /qform origin \[.*Infinity.*\] is not finite/);
  });
});

describe('MetaImage data files', () => {
  const mhd = (dataFile: string): Buffer =>
    Buffer.from(fixture('oblique-int16.mhd').toString('latin1').replace('ElementDataFile = oblique-int16.raw', `ElementDataFile = ${dataFile}`), 'latin1');

  it.each(['../../etc/passwd', '/etc/passwd', 'sub/x.raw', '..', 'C:\\x.raw', 'LIST'])('refuses ElementDataFile %s', (file) => {
    expectRefused({ name: 'evil.mhd', bytes: mhd(file), siblings: new Map([[file, Buffer.alloc(840)]]) }, 'unsupported', /must be LOCAL or a file name beside the header/);
  });

  it('refuses an escaping name on disk even when the file exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'assay-mhd-'));
    writeFileSync(join(dir, 'escape.mhd'), mhd(`../${dir.split('/').pop()}/escape.raw`));
    writeFileSync(join(dir, 'escape.raw'), Buffer.alloc(840));
    expect(() => readVolumeFile(join(dir, 'escape.mhd'))).toThrow(/must be LOCAL or a file name beside the header/);
  });

  it('names a missing raw file', () => {
    expectRefused({ name: 'lonely.mhd', bytes: mhd('lonely.raw') }, 'truncated', /ElementDataFile "lonely\.raw" was not provided/);
  });
});

describe('MetaImage variants written by hand', () => {
  const header = (lines: string[]): string => `ObjectType = Image\n${lines.join('\n')}\nElementDataFile = LOCAL\n`;
  it('reads a 2-D big-endian image as one slice with its 2×2 TransformMatrix', () => {
    const data = Buffer.alloc(3 * 2 * 2);
    [-2, -1, 0, 1, 300, -300].forEach((v, n) => data.writeInt16BE(v, 2 * n));
    const h = header(['NDims = 2', 'DimSize = 3 2', 'ElementType = MET_SHORT', 'BinaryDataByteOrderMSB = True', 'ElementSpacing = 0.5 2', 'Offset = 10 20', 'TransformMatrix = 0 1 -1 0']);
    const { volume } = readVolume({ name: 'slice.mha', bytes: Buffer.concat([Buffer.from(h), data]) });
    expect(Array.from(volume.data)).toEqual([-2, -1, 0, 1, 300, -300]);
    expect({ dims: volume.dims, spacing: volume.spacing, origin: volume.origin }).toEqual({ dims: [3, 2, 1], spacing: [0.5, 2, 1], origin: [10, 20, 0] });
    // Axis 0 runs along +y (first pair), axis 1 along −x (second pair).
    expect(volume.direction).toEqual([0, -1, 0, 1, 0, 0, 0, 0, 1]);
  });
  it('refuses several channels', () => {
    const h = header(['NDims = 3', 'DimSize = 2 2 2', 'ElementType = MET_UCHAR', 'ElementNumberOfChannels = 3']);
    expectRefused({ name: 'rgb.mha', bytes: Buffer.concat([Buffer.from(h), Buffer.alloc(24)]) }, 'unsupported', /ElementNumberOfChannels 3/);
  });
  it('refuses an element type it does not read', () => {
    const h = header(['NDims = 3', 'DimSize = 2 2 2', 'ElementType = MET_LONG_LONG']);
    expectRefused({ name: 'i64.mha', bytes: Buffer.concat([Buffer.from(h), Buffer.alloc(64)]) }, 'unsupported', /ElementType "MET_LONG_LONG" is not supported/);
  });
});

describe('DICOM series that are not one regular grid', () => {
  const dir = join(DIR, 'dicom-ct');
  const names = readdirSync(dir).sort();
  const sorted = (): { name: string; bytes: Buffer }[] =>
    names
      .map((name) => ({ name, bytes: Buffer.from(fixture(`dicom-ct/${name}`)) }))
      .sort((a, b) => z(a.bytes) - z(b.bytes));
  const z = (bytes: Buffer): number => dicomParser.parseDicom(bytes).floatString('x00200032', 2)!;

  /** Overwrites a string element in place, padded to its length (so the file stays valid). */
  function patch(bytes: Buffer, tag: string, value: string): Buffer {
    const element = dicomParser.parseDicom(bytes).elements[tag]!;
    expect(value.length).toBeLessThanOrEqual(element.length);
    bytes.write(value.padEnd(element.length, tag === 'x0020000e' || tag === 'x00020010' ? '\0' : ' '), element.dataOffset, 'latin1');
    return bytes;
  }
  const series = (slices: { name: string; bytes: Buffer }[]): VolumeInput => ({ name: 'ct-series', files: slices.map((s) => s.bytes), names: slices.map((s) => s.name) });

  it('mixed SeriesInstanceUIDs', () => {
    const s = sorted();
    patch(s[2]!.bytes, 'x0020000e', '1.2.3.4');
    expectRefused(series(s), 'geometry_mismatch', /SeriesInstanceUID "1\.2\.3\.4"/);
  });
  it('a duplicate slice', () => {
    const s = sorted();
    expectRefused(series([...s, { name: 'copy.dcm', bytes: s[1]!.bytes }]), 'geometry_mismatch', /same position.*duplicate slice/);
  });
  it('a missing slice', () => {
    const s = sorted();
    expectRefused(series([s[0]!, s[1]!, s[3]!]), 'geometry_mismatch', /gap of 5\.0000 mm.*2\.5000 mm: 1 missing slice/);
  });
  it('a non-uniform gap', () => {
    const s = sorted();
    const ds = dicomParser.parseDicom(s[3]!.bytes);
    const ipp = [0, 1, 2].map((c) => ds.floatString('x00200032', c)!);
    const n = [0, 1, 2].map((c) => ds.floatString('x00200037', c)!);
    const col = [3, 4, 5].map((c) => ds.floatString('x00200037', c)!);
    const normal = [n[1]! * col[2]! - n[2]! * col[1]!, n[2]! * col[0]! - n[0]! * col[2]!, n[0]! * col[1]! - n[1]! * col[0]!];
    patch(s[3]!.bytes, 'x00200032', ipp.map((v, c) => (v + 0.4 * normal[c]!).toFixed(5)).join('\\'));
    expectRefused(series(s), 'geometry_mismatch', /gap of 2\.9000 mm.*non-uniform slice spacing/);
  });
  it('a compressed transfer syntax, named by its UID', () => {
    const s = sorted();
    patch(s[0]!.bytes, 'x00020010', '1.2.840.10008.1.2.5');
    expectRefused(series(s), 'unsupported', /transfer syntax 1\.2\.840\.10008\.1\.2\.5 is not supported/);
  });
});

describe('image and mask on different grids', () => {
  it('names what differs, with values', () => {
    const image = readVolumeFile(join(DIR, 'oblique-int16.nii.gz')).volume;
    const other = readVolumeFile(join(DIR, 'spacing06-float32.nii.gz')).volume;
    expect(() => checkSameGeometry(image, other, { image: 'ct.nii.gz', mask: 'mask.nii.gz' })).toThrow(VolumeError);
    try {
      checkSameGeometry(image, other, { image: 'ct.nii.gz', mask: 'mask.nii.gz' });
    } catch (error) {
      expect((error as VolumeError).code).toBe('geometry_mismatch');
      expect((error as VolumeError).message).toMatch(/ct\.nii\.gz and mask\.nii\.gz are not on the same grid: dims \[7, 6, 5\] vs \[5, 4, 3\]; spacing .*; origin \[100\.5, -20\.25, 33\] vs/);
    }
    const shifted = { ...image, origin: [image.origin[0] + 0.5, image.origin[1], image.origin[2]] as typeof image.origin };
    expect(() => checkSameGeometry(image, shifted, { image: 'ct', mask: 'mask' })).toThrow(/: origin \[100\.5, -20\.25, 33\] vs \[101, -20\.25, 33\] mm \(ct first\)$/);
    const mask = readVolumeFile(join(DIR, 'mask-uint8.nii.gz')).volume;
    expect(() => checkSameGeometry(image, mask, { image: 'ct', mask: 'mask' })).not.toThrow();
  });
});
