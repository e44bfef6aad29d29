/**
 * How a generator's samples become radiographs: the one conversion that generate, RL rewards, eval
 * and every sample grid use. Pixel-space models sample the image itself; latent (Stable-Diffusion-
 * class) models sample latents that the VAE decodes, as diffusers' pipelines do:
 * decode(latents / scaling_factor). Either way a multi-channel image becomes a single-channel
 * radiograph as the mean of its channels (for RGB: (R + G + B) / 3, which for a radiograph VAE
 * whose three channels nearly agree is the gray value), in [-1, 1], not yet clamped.
 */
import type { NativeVae } from '../engine/native';
import { decodeLatents, VaeSettings } from '../engine/vae';

export interface SampleDecoder {
  kind: 'pixels' | 'vae';
  /** what the UNet samples, per image: [channels, height, width] */
  sampleShape: [number, number, number];
  /** side of the decoded square radiograph, pixels */
  imageSize: number;
  /** B samples ([B, ...sampleShape]) -> B radiographs [B, imageSize * imageSize] */
  toGray(samples: Float32Array, B: number): Promise<Float32Array>;
}

/** [B, C, n] -> [B, n]: each pixel's mean over the channels. */
export function channelMean(x: Float32Array, B: number, C: number): Float32Array {
  if (C === 1) return x;
  const n = x.length / (B * C),
    out = new Float32Array(B * n);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let c = 0; c < C; c++) v += x[(b * C + c) * n + i];
      out[b * n + i] = v / C;
    }
  return out;
}

export function pixelDecoder(channels: number, size: number): SampleDecoder {
  return {
    kind: 'pixels',
    sampleShape: [channels, size, size],
    imageSize: size,
    toGray: async (x, B) => channelMean(x, B, channels),
  };
}

/**
 * A latent model's decoder. Decodes one image at a time: a 512x512 decode holds activations of
 * 128 channels at full resolution (134 MB each), so batching would multiply peak memory for no
 * gain on a CPU (the convolutions are already large GEMMs).
 */
export function vaeDecoder(vae: NativeVae, s: VaeSettings, latentSize: number): SampleDecoder {
  const size = latentSize * s.downscale,
    per = s.latentChannels * latentSize * latentSize;
  return {
    kind: 'vae',
    sampleShape: [s.latentChannels, latentSize, latentSize],
    imageSize: size,
    toGray: async (x, B) => {
      const out = new Float32Array(B * size * size);
      for (let b = 0; b < B; b++) {
        const img = await decodeLatents(
          vae,
          { data: x.subarray(b * per, (b + 1) * per), shape: [1, s.latentChannels, latentSize, latentSize] },
          s.scalingFactor,
        );
        out.set(channelMean(img.data, 1, s.outChannels), b * size * size);
      }
      return out;
    },
  };
}
