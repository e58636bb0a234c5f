/**
 * The one entry point for ingesting a volume: sniffs the bytes, refuses content that is not what the file name
 * claims, and dispatches to the NIfTI, MetaImage or DICOM-series reader with the caller's limits.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readDicomSeries } from './dicom-series';
import { looksLikeMetaImage, readMetaImage } from './metaimage';
import { isGzip, niftiKind, readNifti, startsLikeNifti } from './nifti-read';
import { Volume } from './volume';
import { resolveLimits, VolumeError, VolumeLimits } from './volume-error';

export type VolumeFormat = 'nifti' | 'metaimage' | 'dicom';

export type VolumeInput =
  /** One file; `siblings` holds the raw data files an .mhd header may name (by plain file name). */
  | { name: string; bytes: Uint8Array; siblings?: { get(fileName: string): Uint8Array | undefined } }
  /** A DICOM series: one buffer per slice, in any order; `names` (same order) are used in messages. */
  | { name: string; files: Uint8Array[]; names?: string[] };

export interface ReadVolumeOptions {
  /** Keep stored integers (label masks): NIfTI scl_slope/scl_inter are not applied. */
  labels?: boolean;
}

export interface ReadVolumeResult {
  volume: Volume;
  format: VolumeFormat;
}

/** What the bytes are, as far as magic numbers tell (for the message when they are not what the name says). */
export function describeContent(bytes: Uint8Array): string {
  const starts = (...sig: number[]): boolean => sig.every((b, n) => bytes[n] === b);
  if (bytes.length === 0) return 'an empty file';
  if (isGzip(bytes)) return 'gzip data';
  if (niftiKind(bytes)) return 'NIfTI';
  if (bytes.length > 132 && Buffer.from(bytes.subarray(128, 132)).toString('latin1') === 'DICM') return 'DICOM';
  if (looksLikeMetaImage(bytes)) return 'a MetaImage header';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG image';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'a ZIP archive';
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'a PDF document';
  const head = bytes.subarray(0, 512);
  if (head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127))) return 'text';
  return 'unrecognised binary data';
}

const claimedFormat = (name: string): 'nii' | 'nii.gz' | 'mha' | 'mhd' | 'dcm' | undefined => {
  const lower = name.toLowerCase();
  if (lower.endsWith('.nii.gz')) return 'nii.gz';
  if (lower.endsWith('.nii')) return 'nii';
  if (lower.endsWith('.mha')) return 'mha';
  if (lower.endsWith('.mhd')) return 'mhd';
  if (lower.endsWith('.dcm')) return 'dcm';
  return undefined;
};

export function readVolume(input: VolumeInput, limits?: Partial<VolumeLimits>, options: ReadVolumeOptions = {}): ReadVolumeResult {
  const resolved = resolveLimits(limits);
  if ('files' in input) {
    input.files.forEach((bytes, n) => {
      const what = describeContent(bytes);
      if (what !== 'DICOM') throw new VolumeError('format_mismatch', `${input.name}/${input.names?.[n] ?? `[${n}]`}: ${what}, not a DICOM file (no "DICM" at byte 128)`);
    });
    return { volume: readDicomSeries(input.name, input.files, { limits: resolved, names: input.names }), format: 'dicom' };
  }
  const { name, bytes } = input;
  const what = describeContent(bytes);
  const claimed = claimedFormat(name);
  const mismatch = (expected: string): VolumeError => new VolumeError('format_mismatch', `${name}: named as ${expected}, but the content is ${what}`);
  const nifti = (): ReadVolumeResult => ({ volume: readNifti(name, bytes, { limits: resolved, labels: options.labels }), format: 'nifti' });
  const meta = (): ReadVolumeResult => ({
    volume: readMetaImage(name, bytes, { limits: resolved, readSibling: (file) => input.siblings?.get(file) }),
    format: 'metaimage',
  });
  switch (claimed) {
    case 'nii.gz':
      // Whether the gzip holds NIfTI is checked by readNifti once the head is inflated.
      if (what !== 'gzip data') throw mismatch('gzip-compressed NIfTI (.nii.gz)');
      return nifti();
    case 'nii':
      // A header cut before its magic: let the reader say "truncated" rather than "not NIfTI".
      if (what !== 'NIfTI' && !(bytes.length < 540 && startsLikeNifti(bytes))) throw mismatch(what === 'gzip data' ? 'uncompressed NIfTI (.nii; a gzip file must end in .nii.gz)' : 'NIfTI (.nii)');
      return nifti();
    case 'mha':
    case 'mhd':
      if (what !== 'a MetaImage header') throw mismatch(`MetaImage (.${claimed})`);
      return meta();
    case 'dcm':
      if (what !== 'DICOM') throw mismatch('DICOM (.dcm)');
      return { volume: readDicomSeries(name, [bytes], { limits: resolved, names: [name] }), format: 'dicom' };
    default:
      // No extension we know (DICOM files often have none): go by content alone.
      if (what === 'NIfTI') return nifti();
      if (what === 'a MetaImage header') return meta();
      if (what === 'DICOM') return { volume: readDicomSeries(name, [bytes], { limits: resolved, names: [name] }), format: 'dicom' };
      throw new VolumeError('not_a_volume', `${name}: ${what}, not a NIfTI, MetaImage or DICOM volume`);
  }
}

/**
 * Reads a volume from disk. The file size is checked before reading; an .mhd's data file is looked up only as a
 * plain name in the header's own directory (readMetaImage refuses anything with a path in it).
 */
export function readVolumeFile(path: string, limits?: Partial<VolumeLimits>, options: ReadVolumeOptions = {}): ReadVolumeResult {
  const resolved = resolveLimits(limits);
  const name = basename(path);
  const readBounded = (file: string, shownAs: string): Buffer => {
    // A compressed file can be no bigger than its voxels; an uncompressed one is voxels plus a header.
    const size = statSync(file).size;
    if (size > resolved.maxBytes + 16 * 1024 * 1024) throw new VolumeError('too_large', `${shownAs}: ${size} bytes, over the limit of ${resolved.maxBytes}`);
    return readFileSync(file);
  };
  const bytes = readBounded(path, name);
  const siblings = new Map<string, Uint8Array>();
  const lazy = {
    get: (file: string) => {
      if (!siblings.has(file)) {
        try {
          siblings.set(file, readBounded(join(dirname(path), file), file));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
      return siblings.get(file);
    },
  };
  return readVolume({ name, bytes, siblings: lazy }, resolved, options);
}
