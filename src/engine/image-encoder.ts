/** The compact CNN of the default reward models (native/model/image_encoder.h): [B, C, S, S] -> [B, out_dim]. */
import { loadAddon, NativeTrainable } from './native';
import type { TensorData } from './tensor';
import { UserError } from '../util/errors';

export interface ImageEncoderConfig {
  in_channels: number;
  image_size: number;
  out_dim: number;
  groups: number;
  channels: number[];
}

export interface NativeImageEncoder extends NativeTrainable {
  configJson(): string;
  forward(input: TensorData): TensorData;
  /** accumulates parameter gradients; returns d/dinput */
  backward(gradOutput: TensorData): TensorData;
}

export function createImageEncoder(config: ImageEncoderConfig, seed = 0): NativeImageEncoder {
  const { ImageEncoder } = loadAddon();
  try {
    return new ImageEncoder(JSON.stringify(config), seed);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}
