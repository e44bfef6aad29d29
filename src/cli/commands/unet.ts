import type { Argv } from 'yargs';
import { createUNet, loadUNetWeights } from '../../engine/unet';
import { readUNetConfig } from '../../engine/unet-config';
import type { TensorData } from '../../engine/tensor';
import { readSafetensors, requireTensor, writeSafetensors } from '../../io/safetensors';
import { UserError } from '../../util/errors';

interface CheckArgs {
  config: string;
  weights?: string;
  input: string;
  out: string;
  saveWeights?: string;
  seed: number;
}

/** Runs one forward (and backward, given grad_output) for independent checks of the engine. */
export function unetCheck(args: CheckArgs): { params: number; grads: boolean } {
  const cfg = readUNetConfig(args.config);
  const unet = createUNet(cfg, args.seed, args.config);
  if (args.weights) loadUNetWeights(unet, args.weights);
  else if (args.saveWeights) unet.saveWeights(args.saveWeights);
  else
    throw new UserError(
      'unet check: without --weights, give --save-weights FILE so the random init can be checked independently',
    );

  const inp = readSafetensors(args.input);
  const sample = requireTensor(inp, 'sample', args.input);
  const encoderHiddenStates = requireTensor(inp, 'encoder_hidden_states', args.input);
  let timestep = requireTensor(inp, 'timestep', args.input);
  const batch = sample.shape[0];
  if (timestep.data.length === 1 && batch !== 1)
    timestep = { data: new Float32Array(batch).fill(timestep.data[0]), shape: [batch] };
  else timestep = { data: timestep.data, shape: [timestep.data.length] };
  const mask = inp.tensors.encoder_attention_mask ?? null;

  let output: TensorData;
  try {
    output = unet.forward({ sample, timestep, encoderHiddenStates, encoderAttentionMask: mask });
  } catch (e) {
    throw new UserError(`${args.input}: ${(e as Error).message}`);
  }
  const result: Record<string, TensorData> = { output };
  const gradOutput = inp.tensors.grad_output;
  if (gradOutput) {
    unet.zeroGrad();
    let grads;
    try {
      grads = unet.backward(gradOutput);
    } catch (e) {
      throw new UserError(`${args.input}: grad_output: ${(e as Error).message}`);
    }
    result['grad.sample'] = grads.sample;
    result['grad.encoder_hidden_states'] = grads.encoderHiddenStates;
    for (const p of unet.paramInfo()) result[`grad.${p.name}`] = unet.getGrad(p.name);
  }
  writeSafetensors(args.out, result, { config: unet.configJson() });
  return { params: unet.numParams(), grads: !!gradOutput };
}

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
