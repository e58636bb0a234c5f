import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gpuRunsAllowed, type SandboxPolicy } from './sandbox-profile';

const exec = promisify(execFile);

export interface GpuDevice {
  id: string;
  name?: string;
  memoryMiB?: number;
}

/** Parses `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): GpuDevice[] {
  return text
    .split('\n')
    .map((line) => line.split(',').map((s) => s.trim()))
    .filter((cols) => cols.length >= 3 && /^\d+$/.test(cols[0] ?? ''))
    .map(([id, name, mem]) => ({ id: id as string, name: name as string, memoryMiB: Number(mem) }));
}

/**
 * The GPUs this worker offers: from config ('none', or a list of device indices), or detected with nvidia-smi.
 * A host without nvidia-smi simply has none: GPU benchmarks then wait for a GPU worker instead of failing.
 * With a policy, a worker that may not run runc offers none either (the adapter would refuse each GPU run).
 */
export async function detectGpus(setting: 'auto' | 'none' | string[], policy?: SandboxPolicy): Promise<{ devices: GpuDevice[]; note: string }> {
  if (setting === 'none') return { devices: [], note: 'GPUs disabled by ASSAY_WORKER_GPUS=none' };
  // GPU runs get runc (no nvproxy here): where the policy refuses runc this worker offers no GPU at all.
  if (policy && !gpuRunsAllowed(policy)) {
    return { devices: [], note: 'GPUs not offered: GPU runs use runc, which production mode refuses without ASSAY_ALLOW_WEAK_SANDBOX=true' };
  }
  if (Array.isArray(setting)) return { devices: setting.map((id) => ({ id })), note: `GPUs from ASSAY_WORKER_GPUS: ${setting.join(',')}` };
  try {
    const { stdout } = await exec('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], { timeout: 10_000 });
    const devices = parseNvidiaSmi(stdout);
    return { devices, note: devices.length > 0 ? `detected ${devices.length} GPU(s) with nvidia-smi` : 'nvidia-smi lists no GPU' };
  } catch (error) {
    return { devices: [], note: `no GPU: nvidia-smi unavailable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
}

/** One GPU job per device at a time. */
export class GpuPool {
  private readonly free: string[];
  constructor(deviceIds: string[]) {
    this.free = [...deviceIds];
  }
  acquire(): string | null {
    return this.free.shift() ?? null;
  }
  release(id: string): void {
    if (!this.free.includes(id)) this.free.push(id);
  }
  get available(): number {
    return this.free.length;
  }
}
