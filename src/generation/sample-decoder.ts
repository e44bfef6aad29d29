/**
 * How a generator's samples become radiographs: the one conversion that generate, RL rewards, eval
 * and every sample grid use. Pixel-space models sample the image itself; latent (Stable-Diffusion-
 * class) models sample latents that the VAE decodes, as diffusers' pipelines do:
 * decode(latents / scaling_factor). Either way a multi-channel image becomes a single-channel
 * radiograph as the mean of its channels (for RGB: (R + G + B) / 3, which for a radiograph VAE
 * whose three channels nearly agree is the gray value), in [-1, 1], not yet clamped.
 */
import type { NativeVae } from '../engine/native';
import { UNetConfig, unetMultiple } from '../engine/unet-config';
import { decodeLatents, VaeSettings } from '../engine/vae';
import { UserError } from '../util/errors';

export interface SampleDecoder {
  kind: 'pixels' | 'vae';
  /** what the UNet samples, per image: [channels, height, width] */
  sampleShape: [number, number, number];
  /** the decoded radiograph, pixels */
  height: number;
  width: number;
  /** B samples ([B, ...sampleShape]) -> B radiographs [B, height * width] */
  toGray(samples: Float32Array, B: number): Promise<Float32Array>;
  /**
   * The same model at another image size (generate --height/--width). Sizes must be multiples of
   * the UNet's downsampling (2^(levels - 1)) times the VAE's (8 for SD): `multiple` pixels.
   */
  resized(height: number, width: number): SampleDecoder;
  multiple: number;
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

function checkSize(height: number, width: number, multiple: number): void {
  for (const [flag, v] of [
    ['--height', height],
    ['--width', width],
  ] as const)
    if (!Number.isInteger(v) || v <= 0 || v % multiple)
      throw new UserError(`${flag} ${v}: this model makes images whose sides are positive multiples of ${multiple}`);
}

/** A pixel-space model: channels x height x width samples; unetMultiple = 2^(UNet levels - 1). */
function pixelDecoder(channels: number, height: number, width: number, unetMultiple: number): SampleDecoder {
  return {
    kind: 'pixels',
    sampleShape: [channels, height, width],
    height,
    width,
    multiple: unetMultiple,
    toGray: async (x, B) => channelMean(x, B, channels),
    resized: (h, w) => {
      checkSize(h, w, unetMultiple);
      return pixelDecoder(channels, h, w, unetMultiple);
    },
  };
}

/** A pixel-space UNet's decoder at its config's size (or `size`, for a run that overrides it). */
export function unetPixelDecoder(c: UNetConfig, size = c.sample_size): SampleDecoder {
  return pixelDecoder(c.in_channels, size, size, unetMultiple(c));
}

/**
 * A latent model's decoder for latents of h x w. Decodes one image at a time: a 512x512 decode
 * holds activations of 128 channels at full resolution (134 MB each), so batching would multiply
 * peak memory for no gain on a CPU (the convolutions are already large GEMMs).
 */
export function vaeDecoder(vae: NativeVae, s: VaeSettings, h: number, w: number, unetMultiple: number): SampleDecoder {
  const height = h * s.downscale,
    width = w * s.downscale,
    per = s.latentChannels * h * w;
  return {
    kind: 'vae',
    sampleShape: [s.latentChannels, h, w],
    height,
    width,
    multiple: unetMultiple * s.downscale,
    toGray: async (x, B) => {
      const out = new Float32Array(B * height * width);
      for (let b = 0; b < B; b++) {
        const img = await decodeLatents(
          vae,
          { data: x.subarray(b * per, (b + 1) * per), shape: [1, s.latentChannels, h, w] },
          s.scalingFactor,
        );
        out.set(channelMean(img.data, 1, s.outChannels), b * height * width);
      }
      return out;
    },
    resized: (hh, ww) => {
      checkSize(hh, ww, unetMultiple * s.downscale);
      return vaeDecoder(vae, s, hh / s.downscale, ww / s.downscale, unetMultiple);
    },
  };
}

/** The side of a model's square radiographs: RL rewards, eval and their grids work on square images. */
export function squareSide(d: SampleDecoder, what: string): number {
  if (d.height !== d.width) throw new UserError(`${what}: images of ${d.height}x${d.width}; square images are needed`);
  return d.height;
}
