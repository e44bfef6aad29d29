/**
 * `debug step|ppo|schedule`: one RL kernel on tensors from a file, or the DDIM schedule, for
 * independent checks of the engine (the tests compare them with references written elsewhere).
 */
import { ddimStep, ddimStepBackward, Device, ppoLoss, DdimStepInput } from '../engine/rl';
import { ddimSchedule, PredictionTypeName, schedulerConfig } from '../engine/scheduler';
import { readDiffusersScheduler } from '../generation/diffusers-scheduler';
import type { TensorData } from '../engine/tensor';
import { readScalar, readSafetensors, requireTensor, writeSafetensors } from '../io/safetensors';
import type { SafetensorsContents } from '../engine/native-types';
import { UserError } from '../util/errors';

export const STEP_HELP = `Inputs (IN, safetensors; scalars as 0-d/1-element tensors or metadata attributes):
  sample [B,...]                  x_t
  eps [B,...]                     model output; or eps_cond and eps_uncond [B,...] with guidance_scale
  alpha_bar_t, alpha_bar_prev     scalar or [B]
  eta                             scalar (required: no default for the kernel)
  noise [B,...] | prev_sample [B,...] | seed (attribute: Philox noise, stream = sample index)
  grad_log_prob [B]               optional: also write the backward
  metadata: prediction_type (epsilon|sample|v_prediction), clip_sample (0/1), clip_sample_range,
            use_clipped_model_output (0/1)
Outputs (OUT): prev_sample, log_prob [B], and with grad_log_prob: grad_eps (or grad_eps_cond and
  grad_eps_uncond).`;

export const PPO_HELP = `Inputs (IN): log_prob [B], old_log_prob [B], advantages [B], clip_range, adv_clip_max (scalars).
Outputs (OUT): loss, grad_log_prob [B], approx_kl, clipfrac.`;

function perSampleScalar(c: SafetensorsContents, name: string, file: string, batch: number): Float64Array {
  const t = c.tensors[name];
  if (t && t.data.length === batch && batch > 1) return float64Values(c, name);
  return new Float64Array(batch).fill(readScalar(c, name, file));
}

/** A tensor's values in float64: exact for F64 inputs, widened from float32 otherwise. */
function float64Values(c: SafetensorsContents, name: string): Float64Array {
  return c.exact[name] ? Float64Array.from(c.exact[name]) : Float64Array.from(c.tensors[name].data);
}

function flag(c: SafetensorsContents, name: string): boolean {
  const v = c.metadata[name] ?? (c.tensors[name] ? String(c.tensors[name].data[0]) : undefined);
  return v !== undefined && v !== '0' && v !== 'false';
}

export function debugStep(inFile: string, outFile: string, device: Device): void {
  const c = readSafetensors(inFile);
  const sample = requireTensor(c, 'sample', inFile);
  const batch = sample.shape[0];
  const perSample = sample.data.length / batch;
  const guided = !!c.tensors.eps_cond;
  const cond = requireTensor(c, guided ? 'eps_cond' : 'eps', inFile);
  const uncond = guided ? requireTensor(c, 'eps_uncond', inFile) : undefined;
  for (const [name, t] of [
    [guided ? 'eps_cond' : 'eps', cond],
    ['eps_uncond', uncond],
  ] as [string, TensorData | undefined][]) {
    if (t && t.data.length !== sample.data.length)
      throw new UserError(`${inFile}: "${name}" has shape [${t.shape}] but sample is [${sample.shape}]`);
  }
  const pt = (c.metadata.prediction_type ?? 'epsilon') as PredictionTypeName;
  const input: DdimStepInput = {
    batch,
    perSample,
    sample: sample.data,
    modelOutput: cond.data,
    modelOutputUncond: uncond?.data,
    guidanceScale: guided ? readScalar(c, 'guidance_scale', inFile) : 1,
    alphaBarT: perSampleScalar(c, 'alpha_bar_t', inFile, batch),
    alphaBarPrev: perSampleScalar(c, 'alpha_bar_prev', inFile, batch),
    eta: readScalar(c, 'eta', inFile),
    predictionType: pt,
    clipSample: flag(c, 'clip_sample'),
    clipSampleRange: readScalar(c, 'clip_sample_range', inFile, 1),
    useClippedModelOutput: flag(c, 'use_clipped_model_output'),
    prevSample: c.tensors.prev_sample?.data,
    noise: c.tensors.noise?.data,
    seed: readScalar(c, 'seed', inFile, 0),
  };
  const out = ddimStep(input, device);
  const result: Record<string, TensorData> = {
    prev_sample: { data: out.prevSample, shape: sample.shape },
    log_prob: { data: Float32Array.from(out.logProb), shape: [batch] },
  };
  const g = c.tensors.grad_log_prob;
  if (g) {
    if (g.data.length !== batch) throw new UserError(`${inFile}: "grad_log_prob" needs ${batch} values`);
    const grads = ddimStepBackward(
      { ...input, prevSample: out.prevSample, noise: undefined },
      float64Values(c, 'grad_log_prob'),
      device,
    );
    if (guided) {
      result.grad_eps_cond = { data: grads.gradModelOutput, shape: sample.shape };
      result.grad_eps_uncond = { data: grads.gradModelOutputUncond!, shape: sample.shape };
    } else {
      result.grad_eps = { data: grads.gradModelOutput, shape: sample.shape };
    }
  }
  writeSafetensors(outFile, result, { device });
}

export function debugPpo(inFile: string, outFile: string, device: Device): void {
  const c = readSafetensors(inFile);
  const lp = requireTensor(c, 'log_prob', inFile);
  const f64 = (name: string) => {
    const t = requireTensor(c, name, inFile);
    if (t.data.length !== lp.data.length)
      throw new UserError(`${inFile}: "${name}" needs ${lp.data.length} values like log_prob`);
    return float64Values(c, name);
  };
  const r = ppoLoss(
    {
      logProb: float64Values(c, 'log_prob'),
      oldLogProb: f64('old_log_prob'),
      advantages: f64('advantages'),
      clipRange: readScalar(c, 'clip_range', inFile),
      advClipMax: readScalar(c, 'adv_clip_max', inFile),
    },
    device,
  );
  const scalar = (v: number) => ({ data: Float32Array.from([v]), shape: [] as number[] });
  writeSafetensors(
    outFile,
    {
      loss: scalar(r.loss),
      grad_log_prob: { data: Float32Array.from(r.gradLogProb), shape: [lp.data.length] },
      approx_kl: scalar(r.approxKl),
      clipfrac: scalar(r.clipfrac),
    },
    { device },
  );
}

/**
 * The DDIM schedule for a scheduler config (default: Stable Diffusion v1.x's) and a step count:
 * one line per inference step with t, the previous timestep and both alpha-bars.
 */
export function debugSchedule(
  configFile: string | undefined,
  steps: number,
): { t: number; prev_t: number; alpha_bar_t: number; alpha_bar_prev: number }[] {
  const cfg = configFile ? readDiffusersScheduler(configFile) : schedulerConfig();
  const schedule = ddimSchedule(cfg, steps, configFile);
  return Array.from({ length: steps }, (_, i) => {
    const s = schedule.step(i);
    return { t: s.t, prev_t: s.prevT, alpha_bar_t: s.alphaBarT, alpha_bar_prev: s.alphaBarPrev };
  });
}
