'use strict';
// Assay ONNX runner: runs a vendor's ONNX model under the algorithm contract (DESIGN.md).
//   node /opt/runner/runner.js predict  -> /output/predictions.jsonl   (exit 0, 1 on error)
//   node /opt/runner/runner.js check    -> /output/check.json          (exit 0 when decided, 2 when not loadable)
// Plain CommonJS with no dependencies but onnxruntime-node, so the image needs no build step and no npm.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { interfaceProblems } = require('./interface-check');

const INPUT_DIR = process.env.ASSAY_INPUT_DIR || '/input';
const MODEL_DIR = process.env.ASSAY_MODEL_DIR || '/model';
const OUTPUT_DIR = process.env.ASSAY_OUTPUT_DIR || '/output';
const CHUNK = 4096;
// onnxruntime 1.30 reads this when it initialises (on the first require below): no telemetry uploads, ever.
process.env.ORT_DISABLE_TELEMETRY = '1';

// An error whose message is meant for the log as is (no stack trace).
class RunnerError extends Error {}

function fail(message, exitCode) {
  process.stderr.write(`runner: ${message}\n`);
  process.exit(exitCode);
}

function readJson(file, what) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunnerError(`cannot read ${what} ${file}: ${err.code || err.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunnerError(`${what} ${file} is not valid JSON: ${err.message}`);
  }
}

function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function loadVendorManifest() {
  const m = readJson(path.join(MODEL_DIR, 'manifest.json'), 'model manifest');
  if (!isObject(m) || !isObject(m.inputs) || !isObject(m.outputs)) {
    throw new RunnerError('model manifest must have "inputs" and "outputs" objects mapping interface names to ONNX tensor names');
  }
  return m;
}

function validateInterface(iface) {
  if (!isObject(iface) || !Array.isArray(iface.inputs) || !Array.isArray(iface.outputs)) {
    throw new RunnerError('batch manifest has no valid "interface" with "inputs" and "outputs" arrays');
  }
  for (const inp of iface.inputs) {
    if (!isObject(inp) || typeof inp.name !== 'string' || inp.kind !== 'vector' || !Number.isInteger(inp.length) || inp.length < 1) {
      throw new RunnerError(`unsupported interface input ${JSON.stringify(inp)}: the ONNX runner takes vector inputs with an integer length`);
    }
  }
  const outs = iface.outputs.filter((o) => isObject(o) && (o.kind === 'probability' || o.kind === 'risk') && typeof o.name === 'string');
  if (outs.length !== 1 || iface.outputs.length !== 1) {
    throw new RunnerError('the ONNX runner supports exactly one output, of kind "probability" or "risk"');
  }
  return iface;
}

// CPU quota from cgroup v2 (e.g. "200000 100000" = 2 CPUs): ORT otherwise sizes its pool by the host's cores,
// which wastes threads and, under gVisor, eats into the pids limit.
function cpuBudget() {
  let n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  try {
    const [quota, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota !== 'max' && Number(period) > 0) n = Math.min(n, Math.max(1, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // No cgroup v2 file: keep the core count.
  }
  const fromEnv = Number(process.env.ASSAY_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.max(1, Math.min(n, 8));
}

async function openSession(ort, modelPath) {
  const threads = cpuBudget();
  const base = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1 };
  // ORT logs through a process-wide logger set up with the first session; failures reach us as exceptions anyway.
  ort.env.logLevel = process.env.ASSAY_GPU === '1' ? 'fatal' : 'error';
  if (process.env.ASSAY_GPU === '1') {
    try {
      // Log level fatal (above): ORT's own multi-line error about missing CUDA libraries would otherwise precede
      // the one-line message below.
      const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cuda', 'cpu'] });
      process.stderr.write('runner: execution provider: cuda (with cpu fallback for unsupported nodes)\n');
      return session;
    } catch (err) {
      process.stderr.write(`runner: CUDA unavailable (${firstLine(err)}); using cpu\n`);
    }
  }
  const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
  process.stderr.write(`runner: execution provider: cpu (${threads} thread${threads === 1 ? '' : 's'})\n`);
  return session;
}

function firstLine(err) {
  return String((err && err.message) || err).split('\n')[0];
}

function metadataByName(list) {
  const map = new Map();
  for (const m of list || []) map.set(m.name, m);
  return map;
}

function describe(meta) {
  return meta.isTensor ? { name: meta.name, type: meta.type, shape: [...meta.shape] } : { name: meta.name, type: 'non-tensor' };
}

// Checks the model against the interface; returns a list of human-readable problems (empty = ok). The check is
// interface-check.js, the same one the worker runs on the protobuf before the sandbox, so both say the same.
function checkModel(session, iface, vendor) {
  const signature = (list) => (list || []).map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.isTensor ? [...m.shape] : [] }));
  return interfaceProblems({ inputs: signature(session.inputMetadata), outputs: signature(session.outputMetadata) }, vendor, iface);
}

// Reads ir_version and opset_import from the ModelProto header without loading the graph into memory:
// ORT does not expose them and a protobuf library would be the image's only other dependency.
function readOpsets(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(16);
    let pos = 0;
    const varint = () => {
      const n = fs.readSync(fd, buf, 0, 10, pos);
      let value = 0;
      let scale = 1;
      for (let i = 0; i < n; i++) {
        const b = buf[i];
        value += (b & 0x7f) * scale;
        scale *= 128;
        if ((b & 0x80) === 0) {
          pos += i + 1;
          return value;
        }
      }
      throw new Error('bad varint');
    };
    const result = { irVersion: null, opsets: [] };
    while (pos < size) {
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        const v = varint();
        if (field === 1) result.irVersion = v;
      } else if (wire === 2) {
        const len = varint();
        if (field === 8 && len < 4096) {
          const sub = Buffer.alloc(len);
          fs.readSync(fd, sub, 0, len, pos);
          result.opsets.push(parseOpset(sub));
        }
        pos += len;
      } else if (wire === 5) pos += 4;
      else if (wire === 1) pos += 8;
      else throw new Error(`unexpected wire type ${wire}`);
    }
    return result;
  } finally {
    fs.closeSync(fd);
  }
}

function parseOpset(buf) {
  let pos = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('truncated opset');
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return value;
    }
  };
  const out = { domain: '', version: null };
  while (pos < buf.length) {
    const key = varint();
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 2) out.version = v;
    } else if (wire === 2) {
      const len = varint();
      if (field === 1) out.domain = buf.subarray(pos, pos + len).toString('utf8');
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

function writeOutput(name, content) {
  fs.writeFileSync(path.join(OUTPUT_DIR, name), content);
}

async function runCheck() {
  const modelPath = path.join(MODEL_DIR, 'model.onnx');
  const report = { ok: false, problems: [], model: null };
  let iface;
  let vendor;
  try {
    iface = validateInterface(readJson(path.join(INPUT_DIR, 'manifest.json'), 'batch manifest').interface);
    vendor = loadVendorManifest();
  } catch (err) {
    report.problems.push(firstLine(err));
    writeOutput('check.json', JSON.stringify(report, null, 2) + '\n');
    fail(firstLine(err), 2);
  }
  const ort = require('onnxruntime-node');
  let session;
  try {
    session = await openSession(ort, modelPath);
  } catch (err) {
    report.problems.push(`model is not a loadable ONNX model: ${firstLine(err)}`);
    writeOutput('check.json', JSON.stringify(report, null, 2) + '\n');
    fail(`model is not a loadable ONNX model: ${firstLine(err)}`, 2);
  }
  let opsets = null;
  try {
    opsets = readOpsets(modelPath);
  } catch (err) {
    process.stderr.write(`runner: could not read opsets: ${firstLine(err)}\n`);
  }
  report.problems = checkModel(session, iface, vendor);
  report.ok = report.problems.length === 0;
  const defaultOpset = opsets && opsets.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  report.model = {
    inputs: session.inputMetadata.map(describe),
    outputs: session.outputMetadata.map(describe),
    opset: defaultOpset ? defaultOpset.version : null,
    opsets: opsets ? opsets.opsets : [],
    irVersion: opsets ? opsets.irVersion : null,
  };
  writeOutput('check.json', JSON.stringify(report, null, 2) + '\n');
  process.stderr.write(`runner: check ${report.ok ? 'ok' : `found ${report.problems.length} problem(s)`}\n`);
  await session.release();
}

// A case input is either an inline array or a relative path (under /input/cases/<caseId>/) to a JSON array.
function caseVector(c, inp) {
  let v = isObject(c.inputs) ? c.inputs[inp.name] : undefined;
  if (typeof v === 'string') {
    const base = path.resolve(INPUT_DIR, 'cases', String(c.caseId));
    const file = path.resolve(base, v);
    if (!file.startsWith(base + path.sep)) throw new RunnerError(`case '${c.caseId}': input '${inp.name}' path escapes the case folder`);
    v = readJson(file, `case '${c.caseId}' input`);
  }
  if (!Array.isArray(v) || v.length !== inp.length) {
    throw new RunnerError(`case '${c.caseId}': input '${inp.name}' must be an array of ${inp.length} numbers`);
  }
  // null = a missing value in the cohort (its README says which); the model sees NaN and must handle it.
  return v.map((x) => {
    if (x === null) return NaN;
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RunnerError(`case '${c.caseId}': input '${inp.name}' has a value that is neither a finite number nor null`);
    return x;
  });
}

function outputValues(tensor, n, onnxName, kind) {
  const dims = tensor.dims;
  const data = tensor.data;
  let width;
  if (dims.length === 1 && dims[0] === n) width = 1;
  else if (dims.length === 2 && dims[0] === n && (dims[1] === 1 || (kind === 'probability' && dims[1] === 2))) width = dims[1];
  else throw new RunnerError(`output '${onnxName}' has shape [${dims.join(', ')}]; expected [${n}], [${n}, 1]${kind === 'probability' ? ` or [${n}, 2]` : ''}`);
  const out = new Array(n);
  // [N, 2] is (negative, positive): the positive class is column 1.
  for (let i = 0; i < n; i++) out[i] = Number(data[i * width + (width - 1)]);
  return out;
}

async function runPredict() {
  const manifest = readJson(path.join(INPUT_DIR, 'manifest.json'), 'batch manifest');
  if (!isObject(manifest) || !Array.isArray(manifest.cases)) throw new RunnerError('batch manifest has no "cases" array');
  const iface = validateInterface(manifest.interface);
  manifest.cases.forEach((c, i) => {
    if (!isObject(c) || typeof c.caseId !== 'string' || c.caseId === '') {
      throw new RunnerError(`case #${i} has no "caseId" string`);
    }
  });
  const vendor = loadVendorManifest();
  const ort = require('onnxruntime-node');
  let session;
  try {
    session = await openSession(ort, path.join(MODEL_DIR, 'model.onnx'));
  } catch (err) {
    throw new RunnerError(`model is not a loadable ONNX model: ${firstLine(err)}`);
  }
  const problems = checkModel(session, iface, vendor);
  if (problems.length > 0) throw new RunnerError(`model does not fit the interface: ${problems.join('; ')}`);
  const inputMeta = metadataByName(session.inputMetadata);
  const outName = vendor.outputs[iface.outputs[0].name];
  const cases = manifest.cases;
  const lines = [];
  const started = Date.now();
  for (let start = 0; start < cases.length; start += CHUNK) {
    const chunk = cases.slice(start, start + CHUNK);
    const feeds = {};
    for (const inp of iface.inputs) {
      const onnxName = vendor.inputs[inp.name];
      const Arr = inputMeta.get(onnxName).type === 'float64' ? Float64Array : Float32Array;
      const data = new Arr(chunk.length * inp.length);
      chunk.forEach((c, i) => data.set(caseVector(c, inp), i * inp.length));
      feeds[onnxName] = new ort.Tensor(Arr === Float64Array ? 'float64' : 'float32', data, [chunk.length, inp.length]);
    }
    let result;
    try {
      result = await session.run(feeds, [outName]);
    } catch (err) {
      throw new RunnerError(`inference failed on cases ${start}..${start + chunk.length - 1}: ${firstLine(err)}`);
    }
    const field = iface.outputs[0].name;
    const values = outputValues(result[outName], chunk.length, outName, iface.outputs[0].kind);
    chunk.forEach((c, i) => lines.push(JSON.stringify({ caseId: c.caseId, [field]: values[i] })));
  }
  writeOutput('predictions.jsonl', lines.length ? lines.join('\n') + '\n' : '');
  process.stderr.write(`runner: predicted ${cases.length} case(s) in ${Date.now() - started} ms\n`);
  await session.release();
}

async function main() {
  const command = process.argv[2];
  // Image tasks (an interface with a volume input) run through imaging/ (sandbox-images/README.md, "Image models").
  const imaging = require('./imaging');
  if ((command === 'predict' || command === 'check') && imaging.isImageTask(INPUT_DIR)) {
    await imaging.run(command, { INPUT_DIR, MODEL_DIR, OUTPUT_DIR, RunnerError, readJson, openSession, readOpsets, describe, firstLine, fail });
  } else if (command === 'predict') await runPredict();
  else if (command === 'check') await runCheck();
  else fail(`unknown command '${command || ''}'; use 'predict' or 'check'`, 64);
}

main().then(
  () => process.exit(0),
  (err) => {
    if (err instanceof RunnerError) fail(err.message, 1);
    // Unexpected: keep the first line only (vendor-visible logs), but mark it as internal.
    fail(`internal error: ${firstLine(err)}`, 1);
  },
);
