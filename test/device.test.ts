/**
 * The engine device seen from TypeScript: a UNet reports where it runs, moves there and back
 * without changing its results, and a device this machine or build cannot use is refused with the
 * reason (CI has no GPU; on a GPU machine the same tests check the CUDA result instead).
 */
import * as fs from 'fs';
import { loadAddon } from '../src/engine/native';
import { placeModel, resolveEngineDevice, configureEngine } from '../src/engine/device';
import { createUNet } from '../src/engine/unet';
import { MICRO_UNET } from './fixtures';
import { runCli, tmpDir } from './helpers';

const cudaUsable = loadAddon().info().cuda.usable;

function forwardOnce(unet: ReturnType<typeof createUNet>) {
  const sample = { data: Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => Math.sin(i)), shape: [2, 1, 16, 16] };
  const encoderHiddenStates = {
    data: Float32Array.from({ length: 2 * 3 * 16 }, (_, i) => Math.cos(i)),
    shape: [2, 3, 16],
  };
  return unet.forward({ sample, timestep: { data: Float32Array.from([10, 700]), shape: [2] }, encoderHiddenStates });
}

describe('engine device', () => {
  test('a UNet starts on the CPU; toDevice("cpu") keeps its results bit for bit', () => {
    const unet = createUNet(MICRO_UNET, 3);
    expect(unet.device()).toBe('cpu');
    const before = forwardOnce(unet);
    unet.toDevice('cpu');
    expect(unet.device()).toBe('cpu');
    expect(forwardOnce(unet).data).toEqual(before.data);
  });

  test('auto resolves to CUDA exactly when it is usable', () => {
    expect(resolveEngineDevice('auto')).toBe(cudaUsable ? 'cuda' : 'cpu');
    expect(resolveEngineDevice('cpu')).toBe('cpu');
  });

  test('cuda: the UNet moves and matches the CPU (GPU machine), or the reason is given (no GPU)', () => {
    const cpu = createUNet(MICRO_UNET, 3);
    const gpu = createUNet(MICRO_UNET, 3);
    if (!cudaUsable) {
      expect(() => placeModel(gpu, 'cuda')).toThrow(/--device cuda: CUDA is not usable here: \S/);
      expect(() => gpu.toDevice('cuda')).toThrow(/CUDA is not usable/);
      expect(gpu.device()).toBe('cpu'); // a refused move leaves the model where it was
      expect(forwardOnce(gpu).data).toEqual(forwardOnce(cpu).data);
      return;
    }
    expect(placeModel(gpu, 'cuda')).toBe('cuda');
    const want = forwardOnce(cpu).data;
    const got = forwardOnce(gpu).data;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    console.log(`UNet forward on CUDA vs CPU: max relative error ${(worst / scale).toExponential(2)}`);
    expect(worst / scale).toBeLessThan(1e-3);
  });

  test('--precision bf16 needs CUDA; fp32 is always accepted and reported by info()', () => {
    if (!cudaUsable) {
      expect(() => configureEngine('bf16', 'cpu')).toThrow(/--precision bf16 needs --device cuda/);
      expect(() => configureEngine('bf16', 'auto')).toThrow(/--precision bf16 needs --device cuda/);
    }
    configureEngine('fp32', 'cpu');
    expect(loadAddon().info().precision).toBe('fp32');
    expect(() => loadAddon().setPrecision('fp8' as 'fp32')).toThrow(
      /unknown precision 'fp8' \(expected fp32 or bf16\)/,
    );
  });

  test('an unknown device is refused by name', () => {
    const unet = createUNet(MICRO_UNET, 3);
    expect(() => unet.toDevice('tpu' as 'cpu')).toThrow(/unknown device 'tpu' \(expected cpu or cuda\)/);
  });

  test('a torchrun-style launch is refused until data parallelism is wired; a bad variable is named', () => {
    const out = tmpDir('device-dist');
    const args = ['train', '--stage', 'rl', '--init', out, '--out', `${out}/run`];
    const two = runCli(args, { RANK: '0', WORLD_SIZE: '2' });
    expect(two.status).toBe(2);
    expect(two.stderr).toMatch(/WORLD_SIZE=2, but data-parallel training over processes is not wired/);
    const bad = runCli(args, { RANK: '0', WORLD_SIZE: 'two' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/WORLD_SIZE='two' is not an integer/);
  });

  test('every run command checks --device cuda before reading or writing anything', () => {
    if (cudaUsable) return; // on a GPU machine the runs would start: covered by the GPU checks
    const out = tmpDir('device-early');
    for (const args of [
      ['train', '--stage', 'pretrain', '--out', `${out}/pre`],
      ['train', '--stage', 'rl', '--init', out, '--out', `${out}/rl`],
      ['eval', '--models', `a=${out}`, '--out', `${out}/eval`],
    ]) {
      const r = runCli([...args, '--device', 'cuda']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--device cuda: CUDA is not usable here: \S/);
    }
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
