/**
 * DDIM sampling with classifier-free guidance through the fused step kernel, recording the
 * trajectory that the RL stage needs (x_T .. x_0, timesteps, per-step log-probabilities). Noise is
 * Philox: x_T of sample b is stream b of the seed; the noise of step i for sample b is stream
 * (i + 1) * B + b, so a run is reproducible from (seed, settings) alone. Each step is one engine call
 * off the JS thread (UNet.sampleStepAsync: guided forward and the fused step, native/rl/sample_step.h),
 * so progress output and Ctrl-C stay responsive, and x_t stays on the UNet's device between steps.
 * A kept trajectory stays there too (handles); its owner frees it with disposeTrajectory.
 */
import { loadAddon, NativeUNet } from './native';
import type { EngineTensor } from './native-types';
import { Conditioning, guidedConditioning } from './guidance';
import { engineCall, engineCallAsync } from './native-errors';
import { ddimSchedule, SchedulerConfig } from './scheduler';

export type { Conditioning } from './guidance';

export interface SampleOptions {
  /** [B, C, H, W] */
  shape: [number, number, number, number];
  steps: number;
  /** one eta for every step, or one per step (0 = deterministic there) */
  eta: number | readonly number[];
  guidanceScale: number;
  seed: number;
  scheduler: SchedulerConfig;
  keepTrajectory?: boolean;
  /** also keep each step's mean mu (x_prev before noise is added): the RL stage's KL trust region */
  keepMeans?: boolean;
  onStep?: (done: number, total: number) => void;
}

export interface Trajectory {
  /** steps + 1 latents [B, C, H, W] on the UNet's device, x_T first */
  latents: EngineTensor[];
  timesteps: number[];
  /** one Float64Array [B] per step */
  logProbs: Float64Array[];
  /** with keepMeans: each step's mean [B, C, H, W], on the UNet's device */
  means?: EngineTensor[];
}

/** Frees a trajectory's device tensors now (rather than when the garbage collector runs). */
export function disposeTrajectory(t: Trajectory | undefined): void {
  for (const x of t?.latents ?? []) x.dispose();
  for (const m of t?.means ?? []) m.dispose();
}

export interface SampleResult {
  images: Float32Array;
  trajectory?: Trajectory;
}

/** The x_T of a run: stream b of the seed for sample b. */
export function initialNoise(seed: number, batch: number, perSample: number): Float32Array {
  return loadAddon().randn({ seed, streamOffset: 0, batch, perSample });
}

/** The Philox stream offset of step i's noise for a batch of B (sample b draws stream offset + b). */
export function stepNoiseStream(i: number, batch: number): number {
  return (i + 1) * batch;
}

export function etaAtStep(eta: number | readonly number[], i: number): number {
  return typeof eta === 'number' ? eta : eta[i];
}

export async function sampleDdim(
  unet: NativeUNet,
  cond: Conditioning,
  uncond: Conditioning | null,
  o: SampleOptions,
): Promise<SampleResult> {
  const [B, C, H, W] = o.shape;
  const perSample = C * H * W;
  const schedule = ddimSchedule(o.scheduler, o.steps);
  const conditioning = guidedConditioning(B, cond, uncond, o.guidanceScale);
  const x0 = initialNoise(o.seed, B, perSample);
  // x_t stays on the UNet's device from step to step (an EngineTensor); a kept trajectory holds
  // every x_t (and mean) there.
  let x = engineCall(() => loadAddon().EngineTensor.fromHost(x0, [...o.shape], unet.device()));
  const traj: Trajectory | undefined = o.keepTrajectory
    ? { latents: [x], timesteps: [], logProbs: [], means: o.keepMeans ? [] : undefined }
    : undefined;
  try {
    for (let i = 0; i < o.steps; i++) {
      const t = schedule.timesteps[i];
      const step = await engineCallAsync(() =>
        unet.sampleStepAsync({
          sample: x,
          timestep: t,
          encoderHiddenStates: conditioning.context,
          encoderAttentionMask: conditioning.mask,
          schedule,
          stepIndex: i,
          eta: etaAtStep(o.eta, i),
          guidanceScale: o.guidanceScale,
          seed: o.seed,
          streamOffset: stepNoiseStream(i, B),
          keepMean: !!traj?.means,
        }),
      );
      if (!traj) x.dispose();
      x = step.prevSample;
      if (traj) {
        traj.latents.push(x);
        traj.timesteps.push(t);
        traj.logProbs.push(step.logProb);
        if (traj.means) traj.means.push(step.mean!);
      }
      o.onStep?.(i + 1, o.steps);
    }
    return { images: x.toHost(), trajectory: traj };
  } catch (e) {
    disposeTrajectory(traj);
    throw e;
  } finally {
    if (!traj) x.dispose();
  }
}
