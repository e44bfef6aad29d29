import type { Argv } from 'yargs';
import { vaeCheck } from '../../debug/vae-check';

export function registerVae(y: Argv): Argv {
  return y.command(
    'vae <action>',
    'Inspect the native VAE (AutoencoderKL decode/encode on given inputs)',
    (a) =>
      a
        .positional('action', {
          choices: ['check'] as const,
          describe: 'check: decode latents and/or encode images and write the results',
        })
        .option('config', { type: 'string', demandOption: true, describe: 'diffusers AutoencoderKL config.json' })
        .option('weights', {
          type: 'string',
          describe: 'VAE weights (.safetensors, diffusers key names, fp32/fp16/bf16)',
        })
        .option('save-weights', {
          type: 'string',
          describe: 'without --weights: write the random init used here to this file (diffusers key names)',
        })
        .option('seed', { type: 'number', default: 0, describe: 'seed of the random init' })
        .option('input', {
          type: 'string',
          demandOption: true,
          describe: 'safetensors with latents [B,latent_channels,h,w] and/or images [B,in_channels,H,W]',
        })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe:
            'safetensors to write: sample = decode(latents) (post_quant_conv + decoder, no scaling factor); latent_mean, latent_logvar for images',
        }),
    (args) => {
      const r = vaeCheck({
        config: args.config,
        weights: args.weights,
        input: args.input,
        out: args.out,
        saveWeights: args.saveWeights,
        seed: args.seed,
      });
      console.log(`vae check: ${r.params} parameters; wrote ${r.outputs.join(', ')} to ${args.out}`);
    },
  );
}
