/**
 * The one rule for `--device cpu|cuda|auto`: which engine backend the UNet runs on (ONNX Runtime's
 * execution provider follows the same flag, src/onnx/runtime.ts). `cuda` on a machine or build
 * without a usable GPU is a UserError that says why; `auto` takes CUDA when it is usable.
 */
import { UserError } from '../util/errors';
import { engineCall } from './native-errors';
import { loadAddon, NativeUNet } from './native';

export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
export type EngineDevice = 'cpu' | 'cuda';

export function resolveEngineDevice(choice: DeviceChoice): EngineDevice {
  if (choice === 'cpu') return 'cpu';
  const { cuda } = loadAddon().info();
  if (cuda.usable) return 'cuda';
  if (choice === 'auto') return 'cpu';
  throw new UserError(`--device cuda: CUDA is not usable here: ${cuda.reason}`);
}

/** Moves a UNet's weights to the device the choice resolves to; returns that device. */
export function placeUNet(unet: NativeUNet, choice: DeviceChoice): EngineDevice {
  const device = resolveEngineDevice(choice);
  if (unet.device() !== device) engineCall(() => unet.toDevice(device), `--device ${choice}`);
  return device;
}
