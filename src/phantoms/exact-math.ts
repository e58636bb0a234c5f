/**
 * Arithmetic for the phantom generator that gives the same bits on every IEEE-754 machine and V8 version: only
 * + − × ÷, sqrt (correctly rounded by IEEE-754) and integer ops. Math.sin/exp/log/pow/cbrt are avoided in anything that
 * decides a voxel or a published number, because V8 does not promise them bit-identical across versions.
 */
import { Geometry } from '../volumes/volume';

/** A 32-bit seed for stream `parts` of `seed` (murmur3 finaliser over the parts; integer ops only). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const SQRT3 = Math.sqrt(3);

/** Approximately standard normal: Irwin–Hall sum of 4 uniforms, centred and scaled to SD 1 (support ±2√3). */
export function irwinHall4(random: () => number): number {
  return (random() + random() + random() + random() - 2) * SQRT3;
}

/** Uniform on [lo, hi). */
export function uniform(random: () => number, lo: number, hi: number): number {
  return lo + (hi - lo) * random();
}

/** Cube root of v ≥ 0 by Newton's method from above (monotone, so it stops when the iterate stops decreasing). */
export function cbrtExact(v: number): number {
  if (!(v > 0)) return 0;
  let x = 1 + v / 3; // ≥ ∛v for every v > 0
  for (let n = 0; n < 400; n++) {
    const next = (2 * x + v / (x * x)) / 3;
    if (!(next < x)) break;
    x = next;
  }
  return x;
}

/** Row-major rotation matrix of the quaternion (w, x, y, z), normalised here with sqrt. */
export function rotationFromQuaternion(w: number, x: number, y: number, z: number): Geometry['direction'] {
  const n = Math.sqrt(w * w + x * x + y * y + z * z);
  w /= n;
  x /= n;
  y /= n;
  z /= n;
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}

/** A random rotation (not uniform on SO(3); plausible orientations are all we need). */
export function randomRotation(random: () => number): Geometry['direction'] {
  for (;;) {
    const w = 2 * random() - 1;
    const x = 2 * random() - 1;
    const y = 2 * random() - 1;
    const z = 2 * random() - 1;
    if (w * w + x * x + y * y + z * z > 0.01) return rotationFromQuaternion(w, x, y, z);
  }
}
