'use strict';
// Runs an image model over a preprocessed volume and returns one float32 map on the volume's grid: the probability
// of the configured output channel (after the activation the manifest asks for). Memory: the volume, this map and
// one tile or slice (input and output tensors) at a time. Blend weights are separable, so their per-voxel sum is a
// product of three 1-D sums and needs no second volume-sized buffer.
//
// Layouts (i fastest in memory, so [D, H, W] = [nk, nj, ni] is the volume's own order):
//   NCDHW  input [1, 1, d, h, w]; output [1, C, d, h, w]; whole volume, or tiles with overlap and blending.
//   NCHW   input [1, 1 + 2·contextSlices, nj, ni] for slice k (neighbours k−c..k+c, clamped at the ends);
//          output [1, C, nj, ni].

class InferenceError extends Error {}

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

// Writes the activated probability of `channel` for voxel v of an output tensor with C channels of `n` voxels.
function activator(mode, channel, C, n) {
  if (channel >= C) throw new InferenceError(`output has ${C} channel(s); "output.channel" ${channel} is not among them`);
  const off = channel * n;
  if (mode === 'logits' && C > 1) {
    // Softmax across channels, then the wanted one.
    return (out, v) => {
      let max = -Infinity;
      for (let c = 0; c < C; c++) if (out[c * n + v] > max) max = out[c * n + v];
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(out[c * n + v] - max);
      return Math.exp(out[off + v] - max) / sum;
    };
  }
  if (mode === 'logits' || mode === 'sigmoid') return (out, v) => sigmoid(out[off + v]);
  return (out, v) => out[off + v];
}

function axisStarts(n, s, overlap) {
  if (n <= s) return [0];
  const step = Math.max(1, Math.floor(s * (1 - overlap)));
  const starts = [];
  for (let x = 0; x + s < n; x += step) starts.push(x);
  starts.push(n - s);
  return starts;
}

// Blend weight of each position inside a tile of size s: a Gaussian with sigma s/8 centred on the tile (nnU-Net's
// choice: tile edges, where zero padding distorts a convolution's view, count little), or 1 everywhere.
function axisWeights(s, blend) {
  const w = new Float64Array(s);
  const c = (s - 1) / 2;
  const sigma = s / 8;
  for (let t = 0; t < s; t++) w[t] = blend === 'gaussian' ? Math.exp(-((t - c) * (t - c)) / (2 * sigma * sigma)) : 1;
  return w;
}

/** The tile plan along each array axis (i, j, k): tile size, starts, per-position weights. */
function planTiles(dims, tiling, fixed) {
  // tiling.size is [d, h, w] = sizes along (k, j, i).
  return [0, 1, 2].map((c) => {
    const n = dims[c];
    let s = tiling ? tiling.size[2 - c] : n;
    // A free model dimension takes a smaller volume as it is; a fixed one gets edge-replicated padding.
    if (!fixed[c] && s > n) s = n;
    if (fixed[c]) s = fixed[c];
    const starts = tiling ? axisStarts(n, s, tiling.overlap) : axisStarts(n, s, 0);
    const weights = axisWeights(s, tiling ? tiling.blend : 'constant');
    // Sum of the weights of every tile covering each voxel (the blend's normaliser, per axis).
    const norm = new Float64Array(n);
    for (const st of starts) for (let t = 0; t < s && st + t < n; t++) norm[st + t] += weights[t];
    return { n, s, starts, weights, norm };
  });
}

function tensorOf(result, name) {
  const t = result[name];
  if (!t) throw new InferenceError(`the model did not return output '${name}'`);
  return t;
}

async function runModel(session, feeds, outputName, what) {
  try {
    return await session.run(feeds, [outputName]);
  } catch (err) {
    throw new InferenceError(`inference failed on ${what}: ${String((err && err.message) || err).split('\n')[0]}`);
  }
}

// Output tensor of rank 5 ([1, C, d, h, w]) or 4 ([1, C, h, w]) whose trailing dims match `spatial`.
function outputChannels(t, spatial, outputName) {
  const dims = t.dims;
  const ok = dims.length === spatial.length + 2 && dims[0] === 1 && spatial.every((s, c) => dims[c + 2] === s);
  if (!ok) throw new InferenceError(`output '${outputName}' has shape [${dims.join(', ')}]; expected [1, C, ${spatial.join(', ')}]`);
  return dims[1];
}

async function predictNCDHW(ort, session, data, dims, cfg, mode, fixed) {
  const [ax, ay, az] = planTiles(dims, cfg.tiling, fixed);
  const [ni, nj] = dims;
  const map = new Float32Array(data.length);
  const tile = new Float32Array(ax.s * ay.s * az.s);
  const nTile = tile.length;
  // One tile covering exactly the volume: its output is the map, no blending.
  const direct = !cfg.tiling && ax.s === ax.n && ay.s === ay.n && az.s === az.n;
  let count = 0;
  const total = ax.starts.length * ay.starts.length * az.starts.length;
  for (const kz of az.starts) {
    for (const jy of ay.starts) {
      for (const ix of ax.starts) {
        // Extract (clamped indices: edge replication where a fixed-size tile overhangs the volume).
        let t = 0;
        for (let z = 0; z < az.s; z++) {
          const k = Math.min(kz + z, az.n - 1);
          for (let y = 0; y < ay.s; y++) {
            const row = (k * nj + Math.min(jy + y, ay.n - 1)) * ni;
            if (ix + ax.s <= ni) {
              tile.set(data.subarray(row + ix, row + ix + ax.s), t);
              t += ax.s;
            } else {
              for (let x = 0; x < ax.s; x++) tile[t++] = data[row + Math.min(ix + x, ni - 1)];
            }
          }
        }
        const feeds = { [cfg.inputName]: new ort.Tensor('float32', tile, [1, 1, az.s, ay.s, ax.s]) };
        const result = await runModel(session, feeds, cfg.outputName, total === 1 ? 'the volume' : `tile ${count + 1} of ${total} at (i, j, k) = (${ix}, ${jy}, ${kz})`);
        const out = tensorOf(result, cfg.outputName);
        const C = outputChannels(out, [az.s, ay.s, ax.s], cfg.outputName);
        const prob = activator(mode, cfg.output.channel, C, nTile);
        const o = out.data;
        if (direct) {
          for (let v = 0; v < nTile; v++) map[v] = prob(o, v);
        } else {
          for (let z = 0; z < az.s && kz + z < az.n; z++) {
            const wz = az.weights[z];
            for (let y = 0; y < ay.s && jy + y < ay.n; y++) {
              const wzy = wz * ay.weights[y];
              const row = ((kz + z) * nj + jy + y) * ni + ix;
              const trow = (z * ay.s + y) * ax.s;
              for (let x = 0; x < ax.s && ix + x < ni; x++) map[row + x] += wzy * ax.weights[x] * prob(o, trow + x);
            }
          }
        }
        count++;
      }
    }
  }
  if (!direct) {
    let v = 0;
    for (let k = 0; k < az.n; k++) for (let j = 0; j < nj; j++) {
      const nkj = az.norm[k] * ay.norm[j];
      for (let i = 0; i < ni; i++, v++) map[v] /= nkj * ax.norm[i];
    }
  }
  return { map, tiles: total };
}

async function predictNCHW(ort, session, data, dims, cfg, mode) {
  const [ni, nj, nk] = dims;
  const plane = ni * nj;
  const cin = 1 + 2 * cfg.contextSlices;
  const input = new Float32Array(cin * plane);
  const map = new Float32Array(data.length);
  for (let k = 0; k < nk; k++) {
    for (let c = 0; c < cin; c++) {
      const kk = Math.min(nk - 1, Math.max(0, k - cfg.contextSlices + c));
      input.set(data.subarray(kk * plane, (kk + 1) * plane), c * plane);
    }
    const feeds = { [cfg.inputName]: new ort.Tensor('float32', input, [1, cin, nj, ni]) };
    const out = tensorOf(await runModel(session, feeds, cfg.outputName, `slice k = ${k}`), cfg.outputName);
    const C = outputChannels(out, [nj, ni], cfg.outputName);
    const prob = activator(mode, cfg.output.channel, C, plane);
    const o = out.data;
    const base = k * plane;
    for (let v = 0; v < plane; v++) map[base + v] = prob(o, v);
  }
  return { map, tiles: nk };
}

/**
 * The probability map of a preprocessed volume. `fixed` holds the model's fixed spatial sizes along (i, j, k)
 * (0 where the dimension is free), from the session's input metadata.
 */
async function predictMap(ort, session, data, dims, cfg, fixed = [0, 0, 0]) {
  const mode = cfg.output.kind === 'heatmap' ? cfg.output.activation : cfg.output.kind;
  if (cfg.layout === 'NCHW') return predictNCHW(ort, session, data, dims, cfg, mode);
  return predictNCDHW(ort, session, data, dims, cfg, mode, fixed);
}

module.exports = { predictMap, planTiles, axisStarts, InferenceError };
