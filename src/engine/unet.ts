/** Creating UNets: config validation in TypeScript, construction and weights in the engine. */
import { loadAddon, NativeUNet } from './native';
import { UNetConfig, validateUNetConfig } from './unet-config';
import { engineCall } from './native-errors';

export function createUNet(config: UNetConfig, seed = 0, configFile = 'config'): NativeUNet {
  validateUNetConfig(config, configFile);
  const { UNet } = loadAddon();
  return engineCall(() => new UNet(JSON.stringify(config), seed), configFile);
}

export function loadUNetWeights(unet: NativeUNet, file: string): void {
  engineCall(() => unet.loadWeights(file));
}
