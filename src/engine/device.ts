/**
 * The one rule for `--device cpu|cuda|auto`: which engine backend the UNet and the VAE run on (ONNX Runtime's
 * execution provider follows the same flag, src/onnx/runtime.ts). `cuda` on a machine or build
 * without a usable GPU is a UserError that says why; `auto` takes CUDA when it is usable.
 */
import { UserError } from '../util/errors';
import { engineCall } from './native-errors';
import { loadAddon } from './native';
import type { Device, DeviceModel } from './native-types';

export type DeviceChoice = 'cpu' | 'cuda' | 'auto';

export function resolveEngineDevice(choice: DeviceChoice): Device {
  if (choice === 'cpu') return 'cpu';
  const { cuda } = loadAddon().info();
  if (cuda.usable) return 'cuda';
  if (choice === 'auto') return 'cpu';
  throw new UserError(`--device cuda: CUDA is not usable here: ${cuda.reason}`);
}

/** Moves a model's weights to the device the choice resolves to; returns that device. */
export function placeModel(model: DeviceModel, choice: DeviceChoice): Device {
  const device = resolveEngineDevice(choice);
  if (model.device() !== device) engineCall(() => model.toDevice(device), `--device ${choice}`);
  return device;
}

export type Precision = 'fp32' | 'bf16';

/**
 * The engine set-up of a run, before anything is read or written: the device the choice resolves
 * to (a UserError now if CUDA was asked for and cannot be used) and the compute precision (bf16
 * rounds the device GEMMs' operands to bfloat16 with fp32 accumulation and fp32 weights; the CPU
 * backend has no bf16, so bf16 needs the run to resolve to CUDA). Returns the device.
 */
export function configureEngine(precision: Precision, choice: DeviceChoice): Device {
  const device = resolveEngineDevice(choice);
  if (precision === 'bf16' && device !== 'cuda')
    throw new UserError(
      `--precision bf16 needs --device cuda (or auto on a machine with a usable GPU); the CPU backend computes in fp32`,
    );
  engineCall(() => loadAddon().setPrecision(precision));
  return device;
}

/**
 * Training runs one process today: a torchrun-style launch (WORLD_SIZE > 1) would otherwise start
 * independent copies writing the same run folder. The engine reads the variables (native/distributed).
 */
export function requireSingleProcess(what: string): void {
  const e = engineCall(() => loadAddon().distEnv(), 'torchrun environment');
  if (e.worldSize > 1)
    throw new UserError(
      `${what}: WORLD_SIZE=${e.worldSize}, but data-parallel training over processes is not wired into the CLI yet (the engine has the groundwork: flat gradients, NCCL); run one process`,
    );
}

/** The GPU memory peak since the last call, in MiB (null when the engine has no usable GPU). */
export function devicePeakMiB(): number | null {
  const m = loadAddon().deviceMemory({ resetPeak: true });
  return m ? Math.round(m.peakBytesInUse / 1048576) : null;
}
