import type { Argv } from 'yargs';
import { unetCheck } from '../../debug/unet-check';

export function registerUNet(y: Argv): Argv {
  return y.command(
    'unet <action>',
    'Inspect the native UNet (forward/backward on given inputs)',
    (a) =>
      a
        .positional('action', {
          choices: ['check'] as const,
          describe: 'check: run forward (+ backward) and write the results',
        })
        .option('config', {
          type: 'string',
          demandOption: true,
          describe: 'diffusers config.json, or a preset name (tiny, mid)',
        })
        .option('weights', {
          type: 'string',
          describe: 'UNet weights (.safetensors, diffusers key names, fp32/fp16/bf16)',
        })
        .option('save-weights', {
          type: 'string',
          describe: 'without --weights: write the random init used here to this file',
        })
        .option('seed', { type: 'number', default: 0, describe: 'seed of the random init' })
        .option('input', {
          type: 'string',
          demandOption: true,
          describe:
            'safetensors with sample [B,C,H,W], timestep [B], encoder_hidden_states [B,L,D], optional encoder_attention_mask [B,L] and grad_output [B,C,H,W]',
        })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe:
            'safetensors to write: output, and with grad_output also grad.sample, grad.encoder_hidden_states, grad.<param> for every parameter',
        }),
    (args) => {
      const r = unetCheck({
        config: args.config,
        weights: args.weights,
        input: args.input,
        out: args.out,
        saveWeights: args.saveWeights,
        seed: args.seed,
      });
      console.log(
        `unet check: ${r.params} parameters; wrote output${r.grads ? ' and all gradients' : ''} to ${args.out}`,
      );
    },
  );
}
