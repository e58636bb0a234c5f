'use strict';
// The one check of an ONNX model's signature against a benchmark's vector interface (issue 9). Two callers read the
// signature two ways and must agree word for word: the worker's static check (src/submissions/onnx-inspect.ts, from
// the protobuf, before any sandbox) and the runner's check in the sandbox (runner.js, from onnxruntime's metadata).
// Plain CommonJS without dependencies: the runner image copies src/ as is, and the compiled TypeScript requires it.
// Image interfaces (a volume input, a mask or detections output): only names, element types and ranks here; the
// runner's imaging/ check compares layout, tiling and preprocessing with the model in the sandbox pre-flight.

/** A dimension the model leaves open: a symbolic name, or unknown (-1, null, undefined, '?'). */
function isDynamic(d) {
  return typeof d === 'string' || d === -1 || d === undefined || d === null;
}

const list = (tensors) => tensors.map((t) => t.name).join(', ') || 'none';

/**
 * Problems with how a model's signature fits the interface under the vendor's manifest, each naming the manifest
 * field or the tensor; empty when it fits.
 *   signature: { inputs: [{ name, type, shape, isTensor? }], outputs: [...] }  (shape: numbers or dynamic dims)
 *   manifest:  { inputs: { <interface input>: <tensor> }, outputs: { <interface output>: <tensor> } }
 *   iface:     { inputs: [{ name, length, dtype? }], outputs: [{ name, kind }] }
 */
function interfaceProblems(signature, manifest, iface) {
  const problems = [];
  const mappedInputs = (manifest && manifest.inputs) || {};
  const mappedOutputs = (manifest && manifest.outputs) || {};
  for (const input of iface.inputs) {
    const tensorName = mappedInputs[input.name];
    if (typeof tensorName !== 'string' || tensorName === '') {
      problems.push(`manifest.inputs.${input.name}: missing (which model input receives '${input.name}'?)`);
      continue;
    }
    const t = signature.inputs.find((x) => x.name === tensorName);
    if (!t) {
      problems.push(`manifest.inputs.${input.name}: the model has no input '${tensorName}' (it has: ${list(signature.inputs)})`);
      continue;
    }
    if (t.isTensor === false) {
      problems.push(`input '${tensorName}': not a tensor`);
      continue;
    }
    const dtype = input.dtype || 'float32';
    if (t.type !== dtype) problems.push(`input '${tensorName}': element type ${t.type}, expected ${dtype}`);
    const shape = t.shape;
    if (input.kind === 'volume') {
      if (shape.length !== 4 && shape.length !== 5) problems.push(`input '${tensorName}': rank ${shape.length} [${shape.join(', ')}], expected [N, C, D, H, W] or [N, C, H, W] for a volume`);
      continue;
    }
    if (shape.length !== 2) {
      problems.push(`input '${tensorName}': rank ${shape.length} [${shape.join(', ')}], expected [batch, ${input.length}]`);
      continue;
    }
    if (!isDynamic(shape[0]) && !(typeof shape[0] === 'number' && shape[0] >= 1)) {
      problems.push(`input '${tensorName}': batch dimension ${shape[0]}, expected a dynamic one or at least 1`);
    }
    if (!isDynamic(shape[1]) && shape[1] !== input.length) problems.push(`input '${tensorName}': last dimension ${shape[1]}, expected ${input.length}`);
  }
  for (const name of Object.keys(mappedInputs)) {
    if (!iface.inputs.some((i) => i.name === name)) problems.push(`manifest.inputs.${name}: the benchmark has no input '${name}'`);
  }
  const fed = new Set(Object.values(mappedInputs));
  for (const t of signature.inputs) {
    if (!fed.has(t.name)) problems.push(`input '${t.name}': the model needs it but the manifest maps no benchmark input to it`);
  }
  for (const output of iface.outputs) {
    const tensorName = mappedOutputs[output.name];
    if (typeof tensorName !== 'string' || tensorName === '') {
      problems.push(`manifest.outputs.${output.name}: missing (which model output is '${output.name}'?)`);
      continue;
    }
    const t = signature.outputs.find((x) => x.name === tensorName);
    if (!t) {
      problems.push(`manifest.outputs.${output.name}: the model has no output '${tensorName}' (it has: ${list(signature.outputs)})`);
      continue;
    }
    if (t.isTensor === false) {
      problems.push(`output '${tensorName}': not a tensor`);
      continue;
    }
    if (t.type !== 'float32' && t.type !== 'float64') problems.push(`output '${tensorName}': element type ${t.type}, expected float32 or float64`);
    const shape = t.shape;
    if (output.kind === 'mask' || output.kind === 'detections') {
      if (shape.length !== 0 && shape.length !== 4 && shape.length !== 5) problems.push(`output '${tensorName}': rank ${shape.length} [${shape.join(', ')}], expected a map [N, C, D, H, W] or [N, C, H, W]`);
      continue;
    }
    // [] = no shape inference: predict checks the real shape of what the model returns.
    if (shape.length > 2 || (shape.length === 2 && !isDynamic(shape[1]) && shape[1] !== 1 && shape[1] !== 2)) {
      problems.push(`output '${tensorName}': shape [${shape.join(', ')}], expected [batch], [batch, 1] or [batch, 2]`);
    }
  }
  return problems;
}

module.exports = { interfaceProblems, isDynamic };
