/**
 * The one rule for `--device cpu|cuda|auto`: which engine backend the UNet and the VAE run on (ONNX Runtime's
 * execution provider follows the same flag, src/onnx/runtime.ts). `cuda` on a machine or build
 * without a usable GPU is a UserError that says why; `auto` takes CUDA when it is usable.
 */
import { UserError } from '../util/errors';
import { engineCall } from './native-errors';
import { loadAddon } from './native';

export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
export type EngineDevice = 'cpu' | 'cuda';

export function resolveEngineDevice(choice: DeviceChoice): EngineDevice {
  if (choice === 'cpu') return 'cpu';
  const { cuda } = loadAddon().info();
  if (cuda.usable) return 'cuda';
  if (choice === 'auto') return 'cpu';
  throw new UserError(`--device cuda: CUDA is not usable here: ${cuda.reason}`);
}

/** A model whose passes can run on a device (UNet, VAE). */
export interface DeviceModel {
  toDevice(device: EngineDevice): void;
  device(): EngineDevice;
}

/** Moves a model's weights to the device the choice resolves to; returns that device. */
export function placeModel(model: DeviceModel, choice: DeviceChoice): EngineDevice {
  const device = resolveEngineDevice(choice);
  if (model.device() !== device) engineCall(() => model.toDevice(device), `--device ${choice}`);
  return device;
}
