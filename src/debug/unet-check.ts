/** `unet check`: one forward (and backward) of the engine's UNet on given inputs, for independent checks. */
import { createUNet, loadUNetWeights } from '../engine/unet';
import { readUNetConfig } from '../engine/unet-config';
import { engineCall } from '../engine/native-errors';
import type { TensorData } from '../engine/tensor';
import { readSafetensors, requireTensor, writeSafetensors } from '../io/safetensors';
import { checkWeights } from './check-weights';

export interface UNetCheckArgs {
  config: string;
  weights?: string;
  input: string;
  out: string;
  saveWeights?: string;
  seed: number;
}

/** Runs one forward (and backward, given grad_output) for independent checks of the engine. */
export function unetCheck(args: UNetCheckArgs): { params: number; grads: boolean } {
  const cfg = readUNetConfig(args.config);
  const unet = createUNet(cfg, args.seed, args.config);
  checkWeights('unet check', unet, args, (file) => loadUNetWeights(unet, file));

  const inp = readSafetensors(args.input);
  const sample = requireTensor(inp, 'sample', args.input);
  const encoderHiddenStates = requireTensor(inp, 'encoder_hidden_states', args.input);
  let timestep = requireTensor(inp, 'timestep', args.input);
  const batch = sample.shape[0];
  if (timestep.data.length === 1 && batch !== 1)
    timestep = { data: new Float32Array(batch).fill(timestep.data[0]), shape: [batch] };
  else timestep = { data: timestep.data, shape: [timestep.data.length] };
  const mask = inp.tensors.encoder_attention_mask ?? null;

  const output = engineCall(
    () => unet.forward({ sample, timestep, encoderHiddenStates, encoderAttentionMask: mask }),
    args.input,
  );
  const result: Record<string, TensorData> = { output };
  const gradOutput = inp.tensors.grad_output;
  if (gradOutput) {
    unet.zeroGrad();
    const grads = engineCall(() => unet.backward(gradOutput), `${args.input}: grad_output`);
    result['grad.sample'] = grads.sample;
    result['grad.encoder_hidden_states'] = grads.encoderHiddenStates;
    for (const p of unet.paramInfo()) result[`grad.${p.name}`] = unet.getGrad(p.name);
  }
  writeSafetensors(args.out, result, { config: unet.configJson() });
  return { params: unet.numParams(), grads: !!gradOutput };
}
