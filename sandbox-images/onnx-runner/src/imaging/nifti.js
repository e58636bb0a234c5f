'use strict';
// NIfTI-1 reading and writing for the runner: the canonical subset the facility writes (single-file .nii or .nii.gz,
// one 3-D volume, scalar voxels), plus what any conforming writer may vary (either byte order, sform or qform,
// scl_slope/scl_inter, a 4-D file with one volume).
//
// Why not nifti-reader-js (which the TypeScript side uses): it is an ES module (the runner is plain CommonJS with no
// build step), it reads only (the runner must also write masks on the input's grid), and it wants the whole
// decompressed file in one buffer. Here node:zlib inflates the file as a stream straight into one Float32Array, so a
// case costs the volume once, and a mask is written by reusing the input's own header bytes, so its affine (sform and
// qform, codes included) is the input's bit for bit.

const fs = require('node:fs');
const zlib = require('node:zlib');

class NiftiError extends Error {}

// datatype code -> [bytes per voxel, DataView getter]
const TYPES = {
  2: [1, 'getUint8'],
  4: [2, 'getInt16'],
  8: [4, 'getInt32'],
  16: [4, 'getFloat32'],
  64: [8, 'getFloat64'],
  256: [1, 'getInt8'],
  512: [2, 'getUint16'],
  768: [4, 'getUint32'],
};

function parseHeader(buf, file) {
  if (buf.length < 348) throw new NiftiError(`${file}: shorter than a NIfTI-1 header`);
  let le = true;
  if (buf.readInt32LE(0) !== 348) {
    if (buf.readInt32BE(0) !== 348) throw new NiftiError(`${file}: not a NIfTI-1 file (sizeof_hdr is not 348)`);
    le = false;
  }
  const magic = buf.toString('latin1', 344, 348);
  if (magic !== 'n+1\0') throw new NiftiError(`${file}: magic '${magic.replace(/\0/g, '')}' is not single-file NIfTI-1 ('n+1')`);
  const i16 = (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const f32 = (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
  const dim = Array.from({ length: 8 }, (_, c) => i16(40 + 2 * c));
  const pixdim = Array.from({ length: 8 }, (_, c) => f32(76 + 4 * c));
  if (dim[0] < 3 || dim[0] > 7 || dim.slice(4, dim[0] + 1).some((d) => d !== 1)) {
    throw new NiftiError(`${file}: expected one 3-D volume, dim is [${dim.slice(1, dim[0] + 1).join(', ')}]`);
  }
  const dims = [dim[1], dim[2], dim[3]];
  if (dims.some((d) => !(d >= 1))) throw new NiftiError(`${file}: non-positive dimension in [${dims.join(', ')}]`);
  const datatype = i16(70);
  if (!TYPES[datatype]) throw new NiftiError(`${file}: datatype ${datatype} is not a supported scalar type`);
  const voxOffset = f32(108);
  if (!(voxOffset >= 352) || voxOffset !== Math.floor(voxOffset)) throw new NiftiError(`${file}: bad vox_offset ${voxOffset}`);
  let slope = f32(112);
  let inter = f32(116);
  if (!Number.isFinite(slope) || slope === 0) {
    slope = 1;
    inter = 0;
  }
  if (!Number.isFinite(inter)) inter = 0;
  const geometry = geometryOf(buf, le, dims, pixdim, file);
  return { le, dims, datatype, voxOffset, slope, inter, geometry };
}

// RAS affine (sform when sform_code > 0, else qform when qform_code > 0, else pixdim scaling) -> the runner's
// geometry in LPS: spacing (column norms), unit direction columns (row-major 3x3), origin. Same conventions as
// src/volumes/volume.ts: world = origin + direction · diag(spacing) · (i, j, k).
function geometryOf(buf, le, dims, pixdim, file) {
  const i16 = (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const f32 = (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
  const qformCode = i16(252);
  const sformCode = i16(254);
  let m; // 3x4 RAS affine, rows
  if (sformCode > 0) {
    m = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + 16 * r + 4 * c)));
  } else if (qformCode > 0) {
    const b = f32(256);
    const c = f32(260);
    const d = f32(264);
    const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const qfac = pixdim[0] < 0 ? -1 : 1;
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const s = [pixdim[1], pixdim[2], pixdim[3] * qfac];
    const off = [f32(268), f32(272), f32(276)];
    m = [0, 1, 2].map((r) => [R[r][0] * s[0], R[r][1] * s[1], R[r][2] * s[2], off[r]]);
  } else {
    m = [
      [pixdim[1], 0, 0, 0],
      [0, pixdim[2], 0, 0],
      [0, 0, pixdim[3], 0],
    ];
  }
  // RAS -> LPS: negate the first two rows.
  const lps = [m[0].map((v) => -v), m[1].map((v) => -v), m[2]];
  const spacing = [0, 1, 2].map((c) => Math.hypot(lps[0][c], lps[1][c], lps[2][c]));
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s))) throw new NiftiError(`${file}: degenerate affine (a zero or non-finite voxel axis)`);
  const direction = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) direction.push(lps[r][c] / spacing[c]);
  return { dims: dims.slice(), spacing, origin: [lps[0][3], lps[1][3], lps[2][3]], direction };
}

function isGzip(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads one volume as float32 (scl_slope/scl_inter applied), streaming: the file is inflated chunk by chunk into the
 * result, never held whole. Returns { geometry, data: Float32Array, header: Buffer (the raw 348 bytes), le }.
 */
async function readNifti(file) {
  let source;
  try {
    source = isGzip(file) ? fs.createReadStream(file).pipe(zlib.createGunzip()) : fs.createReadStream(file);
  } catch (err) {
    throw new NiftiError(`cannot read ${file}: ${err.code || err.message}`);
  }
  let head = Buffer.alloc(0);
  let hdr = null;
  let data = null;
  let bpv = 0;
  let getter = '';
  let voxel = 0;
  let total = 0;
  let carry = Buffer.alloc(0);
  let headerBytes = null;
  const take = (buf) => {
    if (carry.length) {
      buf = Buffer.concat([carry, buf]);
      carry = Buffer.alloc(0);
    }
    const n = Math.min(Math.floor(buf.length / bpv), total - voxel);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const { slope, inter, le } = hdr;
    const plain = slope === 1 && inter === 0;
    for (let v = 0; v < n; v++) {
      const x = bpv === 1 ? view[getter](v) : view[getter](v * bpv, le);
      data[voxel + v] = plain ? x : x * slope + inter;
    }
    voxel += n;
    if (voxel < total && n * bpv < buf.length) carry = Buffer.from(buf.subarray(n * bpv));
  };
  try {
    for await (const chunk of source) {
      if (!data) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 348) continue;
        if (!hdr) hdr = parseHeader(head, file);
        if (head.length < hdr.voxOffset) continue;
        headerBytes = Buffer.from(head.subarray(0, 348));
        [bpv, getter] = TYPES[hdr.datatype];
        total = hdr.dims[0] * hdr.dims[1] * hdr.dims[2];
        data = new Float32Array(total);
        const rest = head.subarray(hdr.voxOffset);
        head = null;
        if (rest.length) take(rest);
      } else if (voxel < total) {
        take(chunk);
      }
    }
  } catch (err) {
    if (err instanceof NiftiError) throw err;
    throw new NiftiError(`cannot read ${file}: ${err.code || err.message}`);
  }
  if (!hdr) throw new NiftiError(`${file}: shorter than a NIfTI-1 header`);
  if (!data || voxel < total) throw new NiftiError(`${file}: truncated (${voxel} of ${total} voxels)`);
  return { geometry: hdr.geometry, data, header: headerBytes, le: hdr.le };
}

/**
 * Writes a uint8 label mask with the input's header: same dims, pixdim, sform and qform (bytes copied), only the
 * fields describing the voxels changed. Gzipped when the name ends in .gz.
 */
function writeMask(file, inputHeader, le, mask) {
  const h = Buffer.from(inputHeader);
  const w16 = (o, v) => (le ? h.writeInt16LE(v, o) : h.writeInt16BE(v, o));
  const wf = (o, v) => (le ? h.writeFloatLE(v, o) : h.writeFloatBE(v, o));
  w16(40, 3);
  for (let c = 4; c <= 7; c++) w16(40 + 2 * c, 1);
  w16(68, 1002); // intent_code NIFTI_INTENT_LABEL
  w16(70, 2); // datatype uint8
  w16(72, 8); // bitpix
  wf(108, 352); // vox_offset
  wf(112, 1); // scl_slope
  wf(116, 0); // scl_inter
  h[123] = 0; // slice_code
  wf(124, 1); // cal_max
  wf(128, 0); // cal_min
  const body = Buffer.concat([h, Buffer.alloc(4), Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength)]);
  fs.writeFileSync(file, file.endsWith('.gz') ? zlib.gzipSync(body, { level: 6 }) : body);
}

module.exports = { readNifti, writeMask, NiftiError, parseHeader };
