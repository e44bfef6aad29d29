/** Creating UNets: config validation in TypeScript, construction and weights in the engine. */
import { loadAddon, NativeUNet } from './native';
import { UNetConfig, validateUNetConfig } from './unet-config';
import { UserError } from '../util/errors';

export function createUNet(config: UNetConfig, seed = 0, configFile = 'config'): NativeUNet {
  validateUNetConfig(config, configFile);
  const { UNet } = loadAddon();
  try {
    return new UNet(JSON.stringify(config), seed);
  } catch (e) {
    throw new UserError(`${configFile}: ${(e as Error).message}`);
  }
}

export function loadUNetWeights(unet: NativeUNet, file: string): void {
  try {
    unet.loadWeights(file);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}
