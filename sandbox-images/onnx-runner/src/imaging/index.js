'use strict';
// Image tasks in the ONNX runner: an interface whose input is a volume (NIfTI) and whose output is a mask or
// detections. runner.js dispatches here (isImageTask) and hands over its helpers (session creation with the
// execution-provider choice, error class, exit), so both kinds share one provider policy and one error style.
//
//   predict: per case, read /input/<case path> -> [resample] -> preprocess -> model (whole volume, tiles or slices)
//            -> probability map -> mask on the input grid (/output/masks/<caseId>.nii.gz) or detection points in
//            world LPS mm -> one line of /output/predictions.jsonl.
//   check:   manifest and model metadata against the interface -> /output/check.json.

const fs = require('node:fs');
const path = require('node:path');
const { ManifestError, isImageInterface, validateImageManifest } = require('./manifest');
const { readNifti, writeMask, NiftiError } = require('./nifti');
const { preprocess, resampledGeometry, resampleLinear, resampleNearest } = require('./grid');
const { predictMap, InferenceError } = require('./inference');
const { maskOf, detectionsOf } = require('./postprocess');

const isDynamic = (d) => typeof d === 'string' || d === -1 || d === undefined || d === null;
// Case ids become file names under /output/masks/.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether /input/manifest.json describes an image task. Unreadable manifests are left to the tabular path's errors. */
function isImageTask(inputDir) {
  try {
    return isImageInterface(JSON.parse(fs.readFileSync(path.join(inputDir, 'manifest.json'), 'utf8')).interface);
  } catch {
    return false;
  }
}

/** Problems of the model's metadata against the settings (empty = fits). */
function checkImageModel(session, cfg) {
  const problems = [];
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const rank = cfg.layout === 'NCDHW' ? 5 : 4;
  const layout = cfg.layout === 'NCDHW' ? '[N, C, D, H, W]' : '[N, C, H, W]';
  const inMeta = inputs.get(cfg.inputName);
  if (!inMeta) {
    problems.push(`input '${cfg.inputName}': not in the model (model inputs: ${[...inputs.keys()].join(', ') || 'none'})`);
  } else if (!inMeta.isTensor) {
    problems.push(`input '${cfg.inputName}': is not a tensor`);
  } else {
    if (inMeta.type !== 'float32') problems.push(`input '${cfg.inputName}': expected element type float32, model has ${inMeta.type}`);
    const s = inMeta.shape;
    if (s.length !== rank) {
      problems.push(`input '${cfg.inputName}': layout ${cfg.layout} needs rank ${rank} ${layout}, model has shape [${s.join(', ')}]`);
    } else {
      if (!isDynamic(s[0]) && s[0] !== 1) problems.push(`input '${cfg.inputName}': batch dimension must be 1 or dynamic, model has ${s[0]}`);
      const channels = cfg.layout === 'NCDHW' ? 1 : 1 + 2 * cfg.contextSlices;
      if (!isDynamic(s[1]) && s[1] !== channels) {
        problems.push(`input '${cfg.inputName}': expected ${channels} input channel(s)${cfg.layout === 'NCHW' ? ` (1 + 2 × contextSlices ${cfg.contextSlices})` : ''}, model has ${s[1]}`);
      }
      if (cfg.tiling) {
        cfg.tiling.size.forEach((t, c) => {
          const d = s[2 + c];
          if (!isDynamic(d) && d !== t) problems.push(`input '${cfg.inputName}': "tiling.size"[${c}] is ${t} but the model's dimension ${2 + c} is fixed at ${d}`);
        });
      }
    }
  }
  for (const name of inputs.keys()) {
    if (name !== cfg.inputName) problems.push(`input '${name}': the model needs it but the model manifest does not map it`);
  }
  const outMeta = outputs.get(cfg.outputName);
  if (!outMeta) {
    problems.push(`output '${cfg.outputName}': not in the model (model outputs: ${[...outputs.keys()].join(', ') || 'none'})`);
  } else if (!outMeta.isTensor) {
    problems.push(`output '${cfg.outputName}': is not a tensor`);
  } else {
    if (outMeta.type !== 'float32') problems.push(`output '${cfg.outputName}': expected element type float32, model has ${outMeta.type}`);
    const s = outMeta.shape;
    // [] = no shape inference; predict checks the real shape.
    if (s.length !== 0 && s.length !== rank) problems.push(`output '${cfg.outputName}': layout ${cfg.layout} needs rank ${rank} ${layout}, model has shape [${s.join(', ')}]`);
    else if (s.length === rank && !isDynamic(s[1]) && cfg.output.channel >= s[1]) {
      problems.push(`output '${cfg.outputName}': "output.channel" ${cfg.output.channel} but the model has ${s[1]} channel(s)`);
    }
  }
  return problems;
}

// Fixed spatial sizes along (i, j, k), 0 where free: [.., D, H, W] -> [W, H, D].
function fixedSpatial(session, cfg) {
  const meta = session.inputMetadata.find((m) => m.name === cfg.inputName);
  if (!meta || cfg.layout !== 'NCDHW') return [0, 0, 0];
  const s = meta.shape;
  return [s[4], s[3], s[2]].map((d) => (isDynamic(d) ? 0 : d));
}

function caseFile(inputDir, c, inputName, RunnerError) {
  const v = c.inputs && typeof c.inputs === 'object' ? c.inputs[inputName] : undefined;
  if (typeof v !== 'string' || v === '') throw new RunnerError(`case '${c.caseId}': input '${inputName}' must be a path to a NIfTI file`);
  const root = path.resolve(inputDir);
  // The contract's form is relative to /input ("cases/<caseId>/ct.nii.gz"); a bare name is taken in the case folder.
  let file = path.resolve(root, v);
  if (!fs.existsSync(file)) {
    const alt = path.resolve(root, 'cases', c.caseId, v);
    if (fs.existsSync(alt)) file = alt;
  }
  if (!file.startsWith(root + path.sep)) throw new RunnerError(`case '${c.caseId}': input '${inputName}' path escapes /input`);
  return file;
}

async function loadAll(ctx) {
  const manifest = ctx.readJson(path.join(ctx.INPUT_DIR, 'manifest.json'), 'batch manifest');
  const vendor = ctx.readJson(path.join(ctx.MODEL_DIR, 'manifest.json'), 'model manifest');
  const cfg = validateImageManifest(vendor, manifest.interface);
  return { manifest, cfg };
}

const shape = (d) => d.join('×');

async function predictCase(ort, session, c, cfg, ctx, fixed) {
  const t0 = Date.now();
  const file = caseFile(ctx.INPUT_DIR, c, cfg.interfaceInput, ctx.RunnerError);
  const vol = await readNifti(file);
  const g = vol.geometry;
  let data = vol.data;
  vol.data = null;
  let mg = g;
  if (cfg.resample) {
    mg = resampledGeometry(g, cfg.resample.spacing);
    data = resampleLinear(data, g, mg);
  }
  preprocess(data, cfg.preprocessing);
  const { map, tiles } = await predictMap(ort, session, data, mg.dims, cfg, fixed);
  data = null;
  let line;
  if (cfg.outputKind === 'mask') {
    let mask = maskOf(map, cfg.output.threshold);
    if (cfg.resample) mask = resampleNearest(mask, mg, g);
    const rel = `masks/${c.caseId}.nii.gz`;
    writeMask(path.join(ctx.OUTPUT_DIR, rel), vol.header, vol.le, mask);
    line = { caseId: c.caseId, [cfg.interfaceOutput]: rel };
  } else {
    line = { caseId: c.caseId, [cfg.interfaceOutput]: detectionsOf(map, mg, cfg.output) };
  }
  const unit = cfg.layout === 'NCHW' ? 'slice' : 'tile';
  process.stderr.write(
    `runner: case ${c.caseId}: ${shape(g.dims)}${cfg.resample ? ` -> ${shape(mg.dims)} at [${mg.spacing.join(', ')}] mm` : ''}, ${tiles} ${unit}${tiles === 1 ? '' : 's'}, ${Date.now() - t0} ms\n`,
  );
  return line;
}

function asRunnerError(err, ctx) {
  if (err instanceof ManifestError || err instanceof NiftiError || err instanceof InferenceError) return new ctx.RunnerError(err.message);
  return err;
}

async function runPredict(ctx) {
  const { manifest, cfg } = await loadAll(ctx);
  if (!Array.isArray(manifest.cases)) throw new ctx.RunnerError('batch manifest has no "cases" array');
  manifest.cases.forEach((c, i) => {
    if (!c || typeof c.caseId !== 'string' || !SAFE_ID.test(c.caseId)) {
      throw new ctx.RunnerError(`case #${i}: "caseId" must be a string of letters, digits, '.', '_' or '-' (it names the mask file)`);
    }
  });
  const ort = require('onnxruntime-node');
  let session;
  try {
    session = await ctx.openSession(ort, path.join(ctx.MODEL_DIR, 'model.onnx'));
  } catch (err) {
    throw new ctx.RunnerError(`model is not a loadable ONNX model: ${ctx.firstLine(err)}`);
  }
  const problems = checkImageModel(session, cfg);
  if (problems.length) throw new ctx.RunnerError(`model does not fit the interface: ${problems.join('; ')}`);
  if (cfg.outputKind === 'mask') fs.mkdirSync(path.join(ctx.OUTPUT_DIR, 'masks'), { recursive: true });
  const fixed = fixedSpatial(session, cfg);
  const started = Date.now();
  const fd = fs.openSync(path.join(ctx.OUTPUT_DIR, 'predictions.jsonl'), 'w');
  try {
    for (const c of manifest.cases) fs.writeSync(fd, JSON.stringify(await predictCase(ort, session, c, cfg, ctx, fixed)) + '\n');
  } finally {
    fs.closeSync(fd);
  }
  process.stderr.write(`runner: predicted ${manifest.cases.length} case(s) in ${Date.now() - started} ms\n`);
  await session.release();
}

async function runCheck(ctx) {
  const report = { ok: false, problems: [], model: null };
  const write = () => fs.writeFileSync(path.join(ctx.OUTPUT_DIR, 'check.json'), JSON.stringify(report, null, 2) + '\n');
  const modelPath = path.join(ctx.MODEL_DIR, 'model.onnx');
  let cfg;
  try {
    cfg = (await loadAll(ctx)).cfg;
  } catch (err) {
    report.problems.push(ctx.firstLine(err));
    write();
    ctx.fail(ctx.firstLine(err), 2);
  }
  const ort = require('onnxruntime-node');
  let session;
  try {
    session = await ctx.openSession(ort, modelPath);
  } catch (err) {
    report.problems.push(`model is not a loadable ONNX model: ${ctx.firstLine(err)}`);
    write();
    ctx.fail(`model is not a loadable ONNX model: ${ctx.firstLine(err)}`, 2);
  }
  let opsets = null;
  try {
    opsets = ctx.readOpsets(modelPath);
  } catch (err) {
    process.stderr.write(`runner: could not read opsets: ${ctx.firstLine(err)}\n`);
  }
  report.problems = checkImageModel(session, cfg);
  report.ok = report.problems.length === 0;
  const defaultOpset = opsets && opsets.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  report.model = {
    inputs: session.inputMetadata.map(ctx.describe),
    outputs: session.outputMetadata.map(ctx.describe),
    opset: defaultOpset ? defaultOpset.version : null,
    opsets: opsets ? opsets.opsets : [],
    irVersion: opsets ? opsets.irVersion : null,
    layout: cfg.layout,
  };
  write();
  process.stderr.write(`runner: check ${report.ok ? 'ok' : `found ${report.problems.length} problem(s)`}\n`);
  await session.release();
}

/** Runs `predict` or `check` for an image task; errors meant for the log come back as ctx.RunnerError. */
async function run(command, ctx) {
  try {
    if (command === 'predict') await runPredict(ctx);
    else await runCheck(ctx);
  } catch (err) {
    throw asRunnerError(err, ctx);
  }
}

module.exports = { isImageTask, run, checkImageModel };
