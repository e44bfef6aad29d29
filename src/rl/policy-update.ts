/**
 * PPO updates over stored trajectories (DDPO's inner loop, CXRL-METHOD.md "Policy gradient").
 * For each inner epoch the samples are shuffled, each sample's trainable steps are shuffled on
 * their own, and the first `timestep_fraction` of them are trained. For one micro-batch of samples
 * the gradient accumulates over those steps, each one engine call (native/rl/policy_step.h):
 *   guided forward at the stored x_t (with the current ACE tokens) -> fused DDIM step at the stored
 *   x_prev (new log-prob) -> PPO clipped surrogate -> step backward to both guidance halves ->
 *   UNet backward (parameter gradients, and d/d(context) whose appended slice is ACE's gradient),
 * then the joint gradient norm (UNet + ACE) is clipped and AdamW (UNet) and Adam (ACE) step once.
 * The loss of a micro-batch is the mean over its samples and its trained steps, as DDPO's gradient
 * accumulation makes it.
 */
import type { NativeOptimizer, NativeUNet } from '../engine/native';
import { Conditioning, guidedConditioning } from '../engine/guidance';
import { loadAddon } from '../engine/native';
import { clipJointGradNorm } from '../engine/optimizer';
import { engineCall, engineCallAsync } from '../engine/native-errors';
import type { EngineTensor, NativeDdimSchedule } from '../engine/native-types';
import type { Trajectory } from '../engine/sampler';
import type { TensorData } from '../engine/tensor';
import { appendTokens } from '../generation/generator';
import type { Rng } from '../util/random';
import type { AceTokens } from './ace';

export interface PpoSettings {
  trainBatchSize: number;
  innerEpochs: number;
  timestepFraction: number;
  clipRange: number;
  advClipMax: number;
  maxGradNorm: number;
  guidanceScale: number;
  lr: number;
  aceLr: number;
  /** weight of KL(policy || anchor) per trained step (0: none; needs anchorMeans) */
  klWeight: number;
}

export interface PolicyUpdateInputs {
  policy: NativeUNet;
  optimizer: NativeOptimizer;
  ace: AceTokens | null;
  /** The sampling run's schedule: each stored step is re-scored by its step index. */
  scheduler: NativeDdimSchedule;
  /** prompt conditioning of the B samples, without ACE: [B, L, D] */
  cond: Conditioning;
  /** the empty prompt's conditioning, [1, L, D] */
  uncond: Conditioning;
  trajectory: Trajectory;
  advantages: Float64Array;
  /** step indices that may be trained (those sampled with eta > 0) and their eta */
  trainableSteps: number[];
  eta: number;
  /** the anchor's per-step means [B, C, H, W] along its trajectory (same noise), for the KL trust region */
  anchorMeans?: EngineTensor[];
}

export interface MicroBatchStats extends MicroBatchLoss {
  innerEpoch: number;
  gradNorm: number;
}

export interface PolicyUpdateStats {
  loss: number;
  klAnchor: number;
  approxKl: number;
  clipfrac: number;
  gradNorm: number;
  optimizerSteps: number;
}

/** Rows `idx` of a [B, ...] tensor. */
function gatherRows(t: TensorData, idx: readonly number[]): TensorData {
  const per = t.data.length / t.shape[0];
  const out = new Float32Array(idx.length * per);
  idx.forEach((b, k) => out.set(t.data.subarray(b * per, (b + 1) * per), k * per));
  return { data: out, shape: [idx.length, ...t.shape.slice(1)] };
}

/** Row idx[k] of the stored latent at step steps[k], for each k: a batch on the latents' device. */
function gatherLatents(
  latents: readonly EngineTensor[],
  steps: readonly number[],
  idx: readonly number[],
): EngineTensor {
  return engineCall(() =>
    loadAddon().EngineTensor.gatherRows(
      steps.map((i) => latents[i]),
      idx,
    ),
  );
}

/** The conditioning the policy sees: the prompt tokens with the current ACE tokens appended (uncond: masked padding). */
export function policyConditioning(c: Conditioning, ace: AceTokens | null, pad: boolean): Conditioning {
  return ace ? appendTokens(c, ace.tokens, ace.count, pad) : c;
}

export function trainedStepCount(trainable: number, fraction: number): number {
  return Math.max(1, Math.min(trainable, Math.round(trainable * fraction)));
}

export interface MicroBatchLoss {
  /** the PPO surrogate plus klWeight times the KL term */
  loss: number;
  approxKl: number;
  clipfrac: number;
  /** mean KL(policy || anchor) per element over the samples and trained steps (0 without the term) */
  klAnchor: number;
}

/**
 * The PPO objective of samples `idx`, sample idx[k] trained at its steps steps[k][0..n-1]: zeroes
 * the gradients, then leaves d(loss)/d(UNet parameters) in the UNet and d(loss)/d(ACE) in ace.grad.
 * Each trained step is one engine call (UNet.policyStepAsync: forward, fused step at the stored
 * x_prev, PPO, KL term, backward, on the UNet's device): x_t and x_prev are gathered from the stored
 * trajectory on the device, and only the ACE tokens' slice of d/d(context) comes back.
 */
export async function microBatchGradient(
  u: PolicyUpdateInputs,
  s: PpoSettings,
  idx: readonly number[],
  steps: readonly (readonly number[])[],
  onStep?: () => void,
): Promise<MicroBatchLoss> {
  const nTrain = steps[0].length;
  u.policy.zeroGrad();
  u.ace?.zeroGrad();
  const cond = policyConditioning(
    { context: gatherRows(u.cond.context, idx), mask: gatherRows(u.cond.mask, idx) },
    u.ace,
    false,
  );
  const uncond = policyConditioning(u.uncond, u.ace, true);
  const conditioning = guidedConditioning(idx.length, cond, uncond, s.guidanceScale);
  const mb: MicroBatchLoss = { loss: 0, approxKl: 0, clipfrac: 0, klAnchor: 0 };
  const withKl = s.klWeight > 0;
  if (withKl && !u.anchorMeans) throw new Error("the KL term needs the anchor's per-step means");
  for (let j = 0; j < nTrain; j++) {
    const stepIdx = steps.map((st) => st[j]);
    const latents = {
      sample: gatherLatents(u.trajectory.latents, stepIdx, idx),
      prevSample: gatherLatents(
        u.trajectory.latents,
        stepIdx.map((i) => i + 1),
        idx,
      ),
      anchorMean: withKl ? gatherLatents(u.anchorMeans!, stepIdx, idx) : undefined,
    };
    const r = await engineCallAsync(() =>
      u.policy.policyStepAsync({
        ...latents,
        timestep: stepIdx.map((i) => u.scheduler.step(i).t),
        encoderHiddenStates: conditioning.context,
        encoderAttentionMask: conditioning.mask,
        schedule: u.scheduler,
        stepIndex: stepIdx,
        eta: u.eta,
        guidanceScale: s.guidanceScale,
        oldLogProb: Float64Array.from(idx, (b, k) => u.trajectory.logProbs[stepIdx[k]][b]),
        advantages: Float64Array.from(idx, (b) => u.advantages[b]),
        clipRange: s.clipRange,
        advClipMax: s.advClipMax,
        lossScale: 1 / nTrain, // mean over the trained steps
        klWeight: withKl ? s.klWeight : 0,
        contextGradTokens: u.ace ? u.ace.count : 0,
      }),
    ).finally(() => {
      latents.sample.dispose();
      latents.prevSample.dispose();
      latents.anchorMean?.dispose();
    });
    if (u.ace) u.ace.accumulateFromContextGrad(r.gradContext!);
    mb.loss += (r.loss + s.klWeight * r.klAnchor) / nTrain;
    mb.approxKl += r.approxKl / nTrain;
    mb.clipfrac += r.clipfrac / nTrain;
    mb.klAnchor += r.klAnchor / nTrain;
    onStep?.();
  }
  return mb;
}

export async function policyUpdate(
  u: PolicyUpdateInputs,
  s: PpoSettings,
  rng: Rng,
  hooks: { onMicroBatch?: (m: MicroBatchStats) => void; onProgress?: (done: number, total: number) => void } = {},
): Promise<PolicyUpdateStats> {
  const B = u.advantages.length;
  const nTrain = trainedStepCount(u.trainableSteps.length, s.timestepFraction);
  const microBatches = Math.ceil(B / s.trainBatchSize);
  const total = s.innerEpochs * microBatches * nTrain;
  const sum = { loss: 0, approxKl: 0, clipfrac: 0, gradNorm: 0, klAnchor: 0 };
  let done = 0,
    optimizerSteps = 0;
  for (let inner = 0; inner < s.innerEpochs; inner++) {
    const order = rng.shuffle(Array.from({ length: B }, (_, b) => b));
    const stepOrder = Array.from({ length: B }, () => rng.shuffle([...u.trainableSteps]).slice(0, nTrain));
    for (let m = 0; m < microBatches; m++) {
      const idx = order.slice(m * s.trainBatchSize, (m + 1) * s.trainBatchSize);
      const mb = await microBatchGradient(
        u,
        s,
        idx,
        idx.map((b) => stepOrder[b]),
        () => hooks.onProgress?.(++done, total),
      );
      const gradNorm = clipJointGradNorm(u.ace ? [u.optimizer, u.ace] : [u.optimizer], s.maxGradNorm);
      u.optimizer.setLr(s.lr);
      u.optimizer.step();
      u.ace?.adamStep(s.aceLr);
      optimizerSteps++;
      hooks.onMicroBatch?.({ innerEpoch: inner, ...mb, gradNorm });
      sum.loss += mb.loss;
      sum.approxKl += mb.approxKl;
      sum.clipfrac += mb.clipfrac;
      sum.klAnchor += mb.klAnchor;
      sum.gradNorm += gradNorm;
    }
  }
  const n = optimizerSteps;
  return {
    loss: sum.loss / n,
    approxKl: sum.approxKl / n,
    clipfrac: sum.clipfrac / n,
    klAnchor: sum.klAnchor / n,
    gradNorm: sum.gradNorm / n,
    optimizerSteps,
  };
}
