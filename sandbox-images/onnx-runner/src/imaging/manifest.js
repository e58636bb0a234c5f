'use strict';
// Validation of the imaging parts of the batch interface and of the vendor's model manifest. Every message names
// the field (`model manifest: "tiling.overlap" must be ...`), since vendors read them in their run's log.

class ManifestError extends Error {}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const show = (v) => (v === undefined ? 'nothing' : JSON.stringify(v));

function bad(field, expected, got) {
  return new ManifestError(`model manifest: "${field}" must be ${expected}, got ${show(got)}`);
}

/** True when the batch interface has a volume input: the task is an image task and imaging/ runs it. */
function isImageInterface(iface) {
  return isObject(iface) && Array.isArray(iface.inputs) && iface.inputs.some((i) => isObject(i) && i.kind === 'volume');
}

/** The interface of an image task: exactly one NIfTI volume input, one output of kind mask or detections. */
function validateImageInterface(iface) {
  if (!isObject(iface) || !Array.isArray(iface.inputs) || !Array.isArray(iface.outputs)) {
    throw new ManifestError('batch manifest has no valid "interface" with "inputs" and "outputs" arrays');
  }
  if (iface.inputs.length !== 1) {
    throw new ManifestError(`batch manifest: "interface.inputs" must hold exactly one volume input for the ONNX runner, got ${iface.inputs.length}`);
  }
  const input = iface.inputs[0];
  if (!isObject(input) || typeof input.name !== 'string' || input.kind !== 'volume') {
    throw new ManifestError(`batch manifest: "interface.inputs[0]" must be {"name", "kind": "volume"}, got ${show(input)}`);
  }
  if (input.format !== undefined && input.format !== 'nifti') {
    throw new ManifestError(`batch manifest: "interface.inputs[0].format" must be "nifti", got ${show(input.format)}`);
  }
  if (iface.outputs.length !== 1 || !isObject(iface.outputs[0]) || typeof iface.outputs[0].name !== 'string' || !['mask', 'detections'].includes(iface.outputs[0].kind)) {
    throw new ManifestError(`batch manifest: "interface.outputs" must hold exactly one output of kind "mask" or "detections", got ${show(iface.outputs)}`);
  }
  return { input, output: iface.outputs[0] };
}

function positiveInts(v, n) {
  return Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x >= 1);
}

/**
 * Checks the vendor manifest of an image model against the interface and returns the normalised settings:
 * { inputName, outputName, layout, contextSlices, preprocessing, resample, tiling, output }.
 */
function validateImageManifest(m, iface) {
  if (!isObject(m)) throw new ManifestError('model manifest must be a JSON object');
  const { input, output } = validateImageInterface(iface);
  if (!isObject(m.inputs) || typeof m.inputs[input.name] !== 'string') {
    throw bad(`inputs.${input.name}`, `the name of the ONNX input that takes interface input '${input.name}'`, isObject(m.inputs) ? m.inputs[input.name] : m.inputs);
  }
  if (!isObject(m.outputs) || typeof m.outputs[output.name] !== 'string') {
    throw bad(`outputs.${output.name}`, `the name of the ONNX output for interface output '${output.name}'`, isObject(m.outputs) ? m.outputs[output.name] : m.outputs);
  }
  if (m.layout !== 'NCDHW' && m.layout !== 'NCHW') throw bad('layout', '"NCDHW" (whole volume or tiles) or "NCHW" (slice by slice along k)', m.layout);
  const layout = m.layout;

  let contextSlices = 0;
  if (m.contextSlices !== undefined) {
    if (layout !== 'NCHW') throw new ManifestError('model manifest: "contextSlices" applies to layout "NCHW" only');
    if (!Number.isInteger(m.contextSlices) || m.contextSlices < 0 || m.contextSlices > 16) throw bad('contextSlices', 'an integer in [0, 16]', m.contextSlices);
    contextSlices = m.contextSlices;
  }

  let preprocessing = { kind: 'none' };
  if (m.preprocessing !== undefined) {
    const p = m.preprocessing;
    if (!isObject(p)) throw bad('preprocessing', 'an object with one of "window", "normalize" or "zscore"', p);
    const keys = Object.keys(p);
    const known = keys.filter((k) => ['window', 'normalize', 'zscore'].includes(k));
    const unknown = keys.filter((k) => !known.includes(k));
    if (unknown.length) throw new ManifestError(`model manifest: "preprocessing.${unknown[0]}" is not known (use one of "window", "normalize", "zscore")`);
    if (known.length > 1) throw new ManifestError(`model manifest: "preprocessing" must have one of "window", "normalize", "zscore", not ${known.map((k) => `"${k}"`).join(' and ')}`);
    if (p.window !== undefined) {
      const w = p.window;
      if (!isObject(w) || !isNum(w.center)) throw bad('preprocessing.window.center', 'a number (intensity units, e.g. HU)', isObject(w) ? w.center : w);
      if (!isNum(w.width) || w.width <= 0) throw bad('preprocessing.window.width', 'a positive number', w.width);
      preprocessing = { kind: 'window', center: w.center, width: w.width };
    } else if (p.normalize !== undefined) {
      const n = p.normalize;
      if (!isObject(n) || !isNum(n.mean)) throw bad('preprocessing.normalize.mean', 'a number', isObject(n) ? n.mean : n);
      if (!isNum(n.std) || n.std <= 0) throw bad('preprocessing.normalize.std', 'a positive number', n.std);
      preprocessing = { kind: 'normalize', mean: n.mean, std: n.std };
    } else if (p.zscore !== undefined) {
      if (p.zscore !== true && !isObject(p.zscore)) throw bad('preprocessing.zscore', 'true (mean and std of each volume)', p.zscore);
      preprocessing = { kind: 'zscore' };
    }
  }

  let resample = null;
  if (m.resample !== undefined) {
    const r = m.resample;
    if (!isObject(r) || !Array.isArray(r.spacing) || r.spacing.length !== 3 || !r.spacing.every((s) => isNum(s) && s > 0)) {
      throw bad('resample.spacing', 'three positive numbers [si, sj, sk] in mm (array-axis order)', isObject(r) ? r.spacing : r);
    }
    resample = { spacing: r.spacing.slice() };
  }

  let tiling = null;
  if (m.tiling !== undefined) {
    if (layout !== 'NCDHW') throw new ManifestError('model manifest: "tiling" applies to layout "NCDHW" only (NCHW runs slice by slice)');
    const t = m.tiling;
    if (!isObject(t) || !positiveInts(t.size, 3)) throw bad('tiling.size', 'three positive integers [d, h, w] (voxels along k, j, i)', isObject(t) ? t.size : t);
    const overlap = t.overlap === undefined ? 0.5 : t.overlap;
    if (!isNum(overlap) || overlap < 0 || overlap > 0.9) throw bad('tiling.overlap', 'a number in [0, 0.9]', t.overlap);
    const blend = t.blend === undefined ? 'gaussian' : t.blend;
    if (blend !== 'gaussian' && blend !== 'constant') throw bad('tiling.blend', '"gaussian" or "constant"', t.blend);
    tiling = { size: t.size.slice(), overlap, blend };
  }

  const o = m.output;
  if (!isObject(o)) throw bad('output', 'an object with "kind"', o);
  const channel = o.channel === undefined ? 0 : o.channel;
  if (!Number.isInteger(channel) || channel < 0) throw bad('output.channel', 'a non-negative integer', o.channel);
  const threshold = o.threshold === undefined ? 0.5 : o.threshold;
  if (!isNum(threshold) || threshold <= 0 || threshold >= 1) throw bad('output.threshold', 'a number in (0, 1)', o.threshold);
  let out;
  if (output.kind === 'mask') {
    if (o.kind !== 'probabilities' && o.kind !== 'logits') throw bad('output.kind', '"probabilities" or "logits" for a mask output', o.kind);
    out = { kind: o.kind, channel, threshold };
  } else {
    if (o.kind !== 'heatmap') throw bad('output.kind', '"heatmap" for a detections output', o.kind);
    const minDistanceMm = o.minDistanceMm === undefined ? 0 : o.minDistanceMm;
    if (!isNum(minDistanceMm) || minDistanceMm < 0) throw bad('output.minDistanceMm', 'a non-negative number (mm)', o.minDistanceMm);
    const activation = o.activation === undefined ? 'none' : o.activation;
    if (activation !== 'none' && activation !== 'sigmoid') throw bad('output.activation', '"none" (heatmap already in [0, 1]) or "sigmoid"', o.activation);
    const method = o.method === undefined ? 'components' : o.method;
    if (method !== 'components' && method !== 'maxima') throw bad('output.method', '"components" or "maxima"', o.method);
    const maxDetections = o.maxDetections === undefined ? 1000 : o.maxDetections;
    if (!Number.isInteger(maxDetections) || maxDetections < 1) throw bad('output.maxDetections', 'a positive integer', o.maxDetections);
    out = { kind: 'heatmap', channel, threshold, minDistanceMm, activation, method, maxDetections };
  }
  return {
    interfaceInput: input.name,
    interfaceOutput: output.name,
    outputKind: output.kind,
    inputName: m.inputs[input.name],
    outputName: m.outputs[output.name],
    layout,
    contextSlices,
    preprocessing,
    resample,
    tiling,
    output: out,
  };
}

module.exports = { ManifestError, isImageInterface, validateImageInterface, validateImageManifest };
