export * from './engine/native';
export * from './engine/tensor';
export * from './engine/unet';
export * from './engine/unet-config';
export * from './io/safetensors';
export * from './engine/scheduler';
export * from './engine/rl';
