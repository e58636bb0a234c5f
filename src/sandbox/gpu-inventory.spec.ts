import { detectGpus, GpuPool, parseNvidiaSmi } from './gpu-inventory';

describe('parseNvidiaSmi', () => {
  it('reads index, name and memory of each GPU', () => {
    expect(parseNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n')).toEqual([
      { id: '0', name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
      { id: '1', name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
    ]);
  });
  it('ignores error text', () => {
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });
});

describe('detectGpus', () => {
  it('honours an explicit list and none', async () => {
    expect((await detectGpus(['0', '3'])).devices.map((d) => d.id)).toEqual(['0', '3']);
    expect((await detectGpus('none')).devices).toEqual([]);
  });
});

describe('GpuPool', () => {
  it('hands out each device once until released', () => {
    const pool = new GpuPool(['0', '1']);
    expect(pool.acquire()).toBe('0');
    expect(pool.acquire()).toBe('1');
    expect(pool.acquire()).toBeNull();
    pool.release('0');
    expect(pool.acquire()).toBe('0');
  });
});
