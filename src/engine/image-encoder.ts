/** The compact CNN of the default reward models (native/model/image_encoder.h): [B, C, S, S] -> [B, out_dim]. */
import { loadAddon } from './native';
import type { NativeImageEncoder } from './native-types';

export type { NativeImageEncoder } from './native-types';
import { engineCall } from './native-errors';

export interface ImageEncoderConfig {
  in_channels: number;
  image_size: number;
  out_dim: number;
  groups: number;
  channels: number[];
}

export function createImageEncoder(config: ImageEncoderConfig, seed = 0): NativeImageEncoder {
  const { ImageEncoder } = loadAddon();
  return engineCall(() => new ImageEncoder(JSON.stringify(config), seed), 'image encoder config');
}
