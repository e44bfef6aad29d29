/**
 * DDIM sampling with classifier-free guidance through the fused step kernel, recording the
 * trajectory that the RL stage needs (x_T .. x_0, timesteps, per-step log-probabilities). Noise is
 * Philox: x_T of sample b is stream b of the seed; the noise of step i for sample b is stream
 * (i + 1) * B + b, so a run is reproducible from (seed, settings) alone. The UNet runs off the JS
 * thread (forwardAsync), so progress output and Ctrl-C stay responsive.
 */
import { loadAddon, NativeUNet } from './native';
import { ddimStep, Device } from './rl';
import { DdimScheduler, SchedulerConfig } from './scheduler';
import type { TensorData } from './tensor';
import { UserError } from '../util/errors';

export interface Conditioning {
  /** [B, L, D] (or [1, L, D], broadcast to the batch) */
  context: TensorData;
  /** [B, L] or [1, L]; 1 = real token */
  mask: TensorData;
}

export interface SampleOptions {
  /** [B, C, H, W] */
  shape: [number, number, number, number];
  steps: number;
  eta: number;
  guidanceScale: number;
  seed: number;
  scheduler: SchedulerConfig;
  device?: Device;
  keepTrajectory?: boolean;
  onStep?: (done: number, total: number) => void;
}

export interface Trajectory {
  /** steps + 1 latents, x_T first, each B*C*H*W */
  latents: Float32Array[];
  timesteps: number[];
  /** one Float64Array [B] per step */
  logProbs: Float64Array[];
}

export interface SampleResult {
  images: Float32Array;
  trajectory?: Trajectory;
}

/** Repeats a [1, ...] tensor along the batch, or checks a [B, ...] one. */
function toBatch(t: TensorData, B: number, what: string): TensorData {
  if (t.shape[0] === B) return t;
  if (t.shape[0] !== 1) throw new UserError(`${what}: batch ${t.shape[0]} does not match ${B}`);
  const per = t.data.length;
  const data = new Float32Array(per * B);
  for (let b = 0; b < B; b++) data.set(t.data, b * per);
  return { data, shape: [B, ...t.shape.slice(1)] };
}

function concatBatch(a: TensorData, b: TensorData): TensorData {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data, 0);
  data.set(b.data, a.data.length);
  return { data, shape: [a.shape[0] + b.shape[0], ...a.shape.slice(1)] };
}

export async function sampleDdim(unet: NativeUNet, cond: Conditioning, uncond: Conditioning | null, o: SampleOptions): Promise<SampleResult> {
  const [B, C, H, W] = o.shape;
  const perSample = C * H * W;
  const guided = o.guidanceScale !== 1;
  if (guided && !uncond) throw new UserError('classifier-free guidance needs the unconditional embedding (the empty prompt)');
  const sched = new DdimScheduler(o.scheduler, o.steps);
  const ctx = toBatch(cond.context, B, 'context'), mask = toBatch(cond.mask, B, 'mask');
  const modelCtx = guided ? concatBatch(toBatch(uncond!.context, B, 'unconditional context'), ctx) : ctx;
  const modelMask = guided ? concatBatch(toBatch(uncond!.mask, B, 'unconditional mask'), mask) : mask;
  const rows = guided ? 2 * B : B;

  let x = loadAddon().randn({ seed: o.seed, streamOffset: 0, batch: B, perSample });
  const traj: Trajectory | undefined = o.keepTrajectory ? { latents: [x], timesteps: [], logProbs: [] } : undefined;
  for (let i = 0; i < o.steps; i++) {
    const { t, alphaBarT, alphaBarPrev } = sched.step(i);
    const sample = guided ? concatBatch({ data: x, shape: [B, C, H, W] }, { data: x, shape: [B, C, H, W] }) : { data: x, shape: [B, C, H, W] };
    const eps = await unet.forwardAsync({
      sample, timestep: { data: new Float32Array(rows).fill(t), shape: [rows] },
      encoderHiddenStates: modelCtx, encoderAttentionMask: modelMask,
    });
    const n = B * perSample;
    const step = ddimStep({
      batch: B, perSample, sample: x,
      modelOutput: guided ? eps.data.subarray(n, 2 * n) : eps.data,
      modelOutputUncond: guided ? eps.data.subarray(0, n) : undefined,
      guidanceScale: o.guidanceScale, alphaBarT, alphaBarPrev, eta: o.eta,
      predictionType: o.scheduler.prediction_type, clipSample: o.scheduler.clip_sample, clipSampleRange: o.scheduler.clip_sample_range,
      seed: o.seed, streamOffset: (i + 1) * B,
    }, o.device ?? 'cpu');
    x = step.prevSample;
    if (traj) {
      traj.latents.push(x);
      traj.timesteps.push(t);
      traj.logProbs.push(step.logProb);
    }
    o.onStep?.(i + 1, o.steps);
  }
  return { images: x, trajectory: traj };
}
