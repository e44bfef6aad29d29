/** `vae check`: the engine's AutoencoderKL on given latents and images, for independent checks. */
import type { TensorData } from '../engine/tensor';
import { engineCall } from '../engine/native-errors';
import { createVaeFromFile, loadVaeWeights } from '../engine/vae';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { UserError } from '../util/errors';
import { checkWeights } from './check-weights';

export interface VaeCheckArgs {
  config: string;
  weights?: string;
  input: string;
  out: string;
  saveWeights?: string;
  seed: number;
}

/**
 * Writes `sample` = decode(latents) (post_quant_conv then the decoder, as diffusers'
 * AutoencoderKL.decode(z).sample, no scaling factor) for IN's `latents`, and `latent_mean` /
 * `latent_logvar` (the encoder's diagonal Gaussian after quant_conv) for IN's `images`.
 */
export function vaeCheck(args: VaeCheckArgs): { params: number; outputs: string[] } {
  const vae = createVaeFromFile(args.config, args.seed);
  checkWeights('vae check', vae, args, (file) => loadVaeWeights(vae, file));
  const inp = readSafetensors(args.input);
  const latents = inp.tensors.latents,
    images = inp.tensors.images;
  if (!latents && !images) throw new UserError(`${args.input}: needs a "latents" and/or an "images" tensor`);
  const result: Record<string, TensorData> = {};
  if (latents) result.sample = engineCall(() => vae.decode(latents), `${args.input}: latents`);
  if (images) {
    const g = engineCall(() => vae.encode(images), `${args.input}: images`);
    result.latent_mean = g.mean;
    result.latent_logvar = g.logvar;
  }
  writeSafetensors(args.out, result, { config: vae.configJson() });
  return { params: vae.numParams(), outputs: Object.keys(result) };
}
