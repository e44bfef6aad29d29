/**
 * One CXRL epoch (CXRL-METHOD.md, DESIGN.md "The RL stage as data flow"):
 * prompts -> policy trajectories (guided DDIM with eta, conditioned on [prompt ; ACE]) -> anchor
 * images (the frozen initial model, plain prompt, the same noise by default) -> rewards on ONNX
 * Runtime -> RLCF comparison -> advantages -> PPO updates of the UNet and the ACE tokens.
 * And the held-out evaluation: policy vs anchor on fixed reports and noise, paired per report.
 * All randomness derives from (seed, epoch), so a run resumed at an epoch boundary continues
 * exactly as an uninterrupted one.
 */
import { devicePeakMiB } from '../engine/device';
import { loadAddon, NativeOptimizer } from '../engine/native';
import type { Conditioning } from '../engine/guidance';
import { disposeTrajectory, sampleDdim } from '../engine/sampler';
import { ddimSchedule } from '../engine/scheduler';
import type { NativeDdimSchedule } from '../engine/native-types';
import type { TensorData } from '../engine/tensor';
import type { Generator } from '../generation/generator';
import { squareSide } from '../generation/sample-decoder';
import { ImageScores, meanScores, RewardScorer } from '../rewards/scorer';
import { UserError } from '../util/errors';
import { Rng, seedFor } from '../util/random';
import type { AceTokens } from './ace';
import { batchAdvantages, groupAdvantages, meanStd, PerPromptStatTracker } from './advantages';
import { comparativeRewards } from './comparative-rewards';
import { pairedComparison, PairedComparison } from './paired';
import { policyConditioning, policyUpdate, PolicyUpdateStats, MicroBatchStats } from './policy-update';
import { nextPrompts, PromptCursor, Report } from './prompts';
import { etaSchedule, RlSettings, trainableSteps } from './settings';

export interface RlState {
  /** epochs completed */
  epoch: number;
  /** optimizer steps taken */
  step: number;
  cursor: PromptCursor;
}

export type Phase = 'sampling' | 'anchor' | 'scoring' | 'training' | 'evaluation';

export interface RlHooks {
  onPhase?: (phase: Phase, done: number, total: number) => void;
  onMicroBatch?: (m: MicroBatchStats) => void;
}

type ScoreMeans = ImageScores;

export interface EpochMetrics {
  epoch: number;
  step: number;
  prompts: number;
  images: number;
  policy: ScoreMeans;
  anchor: ScoreMeans | null;
  reward: { total: number; align: number; diag: number; cons: number };
  advantage: { mean: number; std: number };
  loss: number;
  /** mean KL(policy || anchor) per element over the trained steps (0 unless --kl-weight) */
  kl_anchor: number;
  approx_kl: number;
  clipfrac: number;
  grad_norm: number;
  ace_norm: number | null;
  /** GPU memory peak over the epoch, MiB (null on the CPU) */
  device_peak_mib: number | null;
  seconds: { sampling: number; anchor: number; scoring: number; training: number; total: number };
  images_per_second: number;
}

export interface EvalMetrics {
  epoch: number;
  reports: number;
  components: Record<'r_align' | 's_diag' | 's_cons' | 'total', PairedComparison | null>;
  seconds: number;
}

const SEED_POLICY = 1,
  SEED_ANCHOR = 2,
  SEED_UPDATE = 3,
  SEED_EVAL = 4;

/** [-1, 1]-clamped copy: what the saved images show, and what the reward models see. */
function clampImages(x: Float32Array): Float32Array {
  return x.map((v) => Math.max(-1, Math.min(1, v)));
}

/** Repeats row p of a [P, ...] tensor k times in a row: [P * k, ...]. */
export function repeatRows(t: TensorData, k: number): TensorData {
  if (k === 1) return t;
  const P = t.shape[0],
    per = t.data.length / P;
  const out = new Float32Array(P * k * per);
  for (let p = 0; p < P; p++)
    for (let j = 0; j < k; j++) out.set(t.data.subarray(p * per, (p + 1) * per), (p * k + j) * per);
  return { data: out, shape: [P * k, ...t.shape.slice(1)] };
}

function expand(c: Conditioning, k: number): Conditioning {
  return { context: repeatRows(c.context, k), mask: repeatRows(c.mask, k) };
}

function checkFinite(what: string, epoch: number, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw new UserError(
        `epoch ${epoch}: ${what} is not finite (${values[i]}); the run stops here and keeps its last good checkpoint`,
      );
  }
}

export class RlTrainer {
  readonly scheduler: NativeDdimSchedule;
  private anchorEvalCache: { seed: number; images: Float32Array; scores: ImageScores[] } | null = null;

  constructor(
    readonly policy: Generator,
    readonly anchor: Generator,
    readonly scorer: RewardScorer,
    readonly optimizer: NativeOptimizer,
    readonly ace: AceTokens | null,
    readonly tracker: PerPromptStatTracker,
    readonly settings: RlSettings,
    readonly state: RlState,
  ) {
    this.scheduler = ddimSchedule(policy.scheduler, settings.sampleSteps);
  }

  /** side of the square radiographs the reward models score */
  get imageSize(): number {
    return squareSide(this.policy.decoder, 'RL');
  }

  get sampleShape(): [number, number, number] {
    return this.policy.decoder.sampleShape;
  }

  /** Samples (pixels or latents) -> the clamped radiographs the reward models see and the grids show. */
  private async radiographs(samples: Float32Array, B: number): Promise<Float32Array> {
    return clampImages(await this.policy.decoder.toGray(samples, B));
  }

  /** The policy's and the anchor's conditioning for these prompt texts (one row per text). */
  private async conditioning(texts: string[]): Promise<{ plain: Conditioning; uncond: Conditioning }> {
    return { plain: await this.policy.encodeText(texts), uncond: await this.policy.encodeText(['']) };
  }

  /** Policy trajectories for B images (k per prompt), and the anchor's final images from the chosen noise. */
  async sample(
    plain: Conditioning,
    uncond: Conditioning,
    B: number,
    seed: number,
    anchorSeed: number | null,
    hooks: RlHooks,
    keepTrajectory = true,
  ) {
    const s = this.settings;
    const shape: [number, number, number, number] = [B, ...this.sampleShape];
    const common = {
      shape,
      steps: s.sampleSteps,
      eta: etaSchedule(s),
      guidanceScale: s.guidanceScale,
      scheduler: this.policy.scheduler,
    };
    const t0 = Date.now();
    const policy = await sampleDdim(
      this.policy.unet,
      policyConditioning(plain, this.ace, false),
      policyConditioning(uncond, this.ace, true),
      {
        ...common,
        seed,
        keepTrajectory,
        onStep: (d, t) => hooks.onPhase?.('sampling', d, t),
      },
    );
    const t1 = Date.now();
    const anchor =
      anchorSeed === null
        ? null
        : await sampleDdim(this.anchor.unet, plain, uncond, {
            ...common,
            seed: anchorSeed,
            // The KL trust region needs the anchor's per-step means.
            keepTrajectory: keepTrajectory && this.settings.klWeight > 0,
            keepMeans: keepTrajectory && this.settings.klWeight > 0,
            onStep: (d, t) => hooks.onPhase?.('anchor', d, t),
          });
    return { policy, anchor, seconds: { sampling: (t1 - t0) / 1000, anchor: (Date.now() - t1) / 1000 } };
  }

  /** Scores radiographs (from radiographs()). */
  private score(images: Float32Array, B: number, reports: Report[]): Promise<ImageScores[]> {
    return this.scorer
      .scoreGenerated(
        images,
        B,
        this.imageSize,
        reports.map((r) => r.text),
        reports.map((r) => r.labels),
      )
      .then((r) => r.perImage);
  }

  /** Scores one epoch's samples, turns the scores into advantages and runs the PPO update on them. */
  private async scoreAndUpdate(
    e: number,
    sampled: Awaited<ReturnType<RlTrainer['sample']>>,
    perImage: Report[],
    plain: Conditioning,
    uncond: Conditioning,
    hooks: RlHooks,
  ) {
    const s = this.settings,
      k = s.samplesPerPrompt,
      B = perImage.length;

    const tScore = Date.now();
    hooks.onPhase?.('scoring', 0, 2);
    const policyScores = await this.score(await this.radiographs(sampled.policy.images, B), B, perImage);
    hooks.onPhase?.('scoring', 1, 2);
    const anchorScores = sampled.anchor
      ? await this.score(await this.radiographs(sampled.anchor.images, B), B, perImage)
      : null;
    hooks.onPhase?.('scoring', 2, 2);
    const rewards = comparativeRewards(policyScores, anchorScores, s.rlcf, s.rewardWeights);
    checkFinite('the reward', e, rewards.total);
    const promptKeys = perImage.map((r) => r.text);
    const adv =
      s.advantage === 'per-prompt'
        ? this.tracker.update(promptKeys, rewards.total)
        : s.advantage === 'group'
          ? groupAdvantages(
              perImage.map((_, i) => String(Math.floor(i / k))),
              rewards.total,
            )
          : batchAdvantages(rewards.total);
    const secondsScoring = (Date.now() - tScore) / 1000;

    const tTrain = Date.now();
    const upd: PolicyUpdateStats = await policyUpdate(
      {
        policy: this.policy.unet,
        optimizer: this.optimizer,
        ace: this.ace,
        scheduler: this.scheduler,
        cond: plain,
        uncond,
        trajectory: sampled.policy.trajectory!,
        advantages: adv,
        trainableSteps: trainableSteps(s),
        eta: s.eta,
        anchorMeans: sampled.anchor?.trajectory?.means,
      },
      s,
      new Rng(seedFor(s.seed, SEED_UPDATE, e)),
      {
        onMicroBatch: hooks.onMicroBatch,
        onProgress: (d, t) => hooks.onPhase?.('training', d, t),
      },
    );
    checkFinite('the PPO loss', e, [upd.loss, upd.gradNorm]);
    const secondsTraining = (Date.now() - tTrain) / 1000;

    return { policyScores, anchorScores, rewards, adv, upd, secondsScoring, secondsTraining };
  }

  /** One epoch on the next prompts of `reports`. */
  async epoch(reports: readonly Report[], hooks: RlHooks = {}): Promise<EpochMetrics> {
    const s = this.settings,
      e = this.state.epoch + 1,
      k = s.samplesPerPrompt;
    const tStart = Date.now();
    const prompts = nextPrompts(reports, s.promptsPerEpoch, s.seed, this.state.cursor);
    const perImage = prompts.flatMap((r) => Array.from({ length: k }, () => r));
    const B = perImage.length;
    const { plain: promptCond, uncond } = await this.conditioning(prompts.map((r) => r.text));
    const plain = expand(promptCond, k);

    const seed = seedFor(s.seed, SEED_POLICY, e);
    const needAnchor = s.rlcf !== 'direct';
    const anchorSeed = !needAnchor ? null : s.anchorNoise === 'same' ? seed : seedFor(s.seed, SEED_ANCHOR, e);
    const sampled = await this.sample(plain, uncond, B, seed, anchorSeed, hooks);
    const { policyScores, anchorScores, rewards, adv, upd, secondsScoring, secondsTraining } =
      await this.scoreAndUpdate(e, sampled, perImage, plain, uncond, hooks).finally(() => {
        disposeTrajectory(sampled.policy.trajectory);
        disposeTrajectory(sampled.anchor?.trajectory);
      });

    this.state.epoch = e;
    this.state.step += upd.optimizerSteps;
    const total = (Date.now() - tStart) / 1000;
    const a = meanStd(adv),
      mean = (v: Float64Array) => v.reduce((x, y) => x + y, 0) / v.length;
    return {
      epoch: e,
      step: this.state.step,
      prompts: prompts.length,
      images: B,
      policy: meanScores(policyScores),
      anchor: anchorScores ? meanScores(anchorScores) : null,
      reward: {
        total: mean(rewards.total),
        align: mean(rewards.align),
        diag: mean(rewards.diag),
        cons: mean(rewards.cons),
      },
      advantage: a,
      loss: upd.loss,
      kl_anchor: upd.klAnchor,
      approx_kl: upd.approxKl,
      clipfrac: upd.clipfrac,
      grad_norm: upd.gradNorm,
      ace_norm: this.ace ? this.ace.norm() : null,
      device_peak_mib: devicePeakMiB(),
      seconds: { ...sampled.seconds, scoring: secondsScoring, training: secondsTraining, total },
      images_per_second: B / total,
    };
  }

  /**
   * Policy vs anchor on fixed reports with fixed noise (one image each, the RL sampling settings),
   * compared per report. The anchor's images are computed once per run (it is frozen).
   * Returns the metrics and both sets of radiographs, clamped to [-1, 1] (for the side-by-side grid).
   */
  async evaluate(
    reports: Report[],
    hooks: RlHooks = {},
    chunk = 16,
  ): Promise<{ metrics: EvalMetrics; policy: Float32Array; anchor: Float32Array }> {
    const t0 = Date.now(),
      s = this.settings;
    const seed = seedFor(s.seed, SEED_EVAL, 0);
    const per = this.imageSize ** 2;
    const policyImages = new Float32Array(reports.length * per);
    const anchorImages = this.anchorEvalCache?.seed === seed ? null : new Float32Array(reports.length * per);
    const parts = Math.ceil(reports.length / chunk);
    for (let c = 0; c < parts; c++) {
      const part = reports.slice(c * chunk, (c + 1) * chunk);
      const { plain, uncond } = await this.conditioning(part.map((r) => r.text));
      const r = await this.sample(
        plain,
        uncond,
        part.length,
        seed + c,
        anchorImages ? seed + c : null,
        {
          onPhase: (_p, d, t) => hooks.onPhase?.('evaluation', c * t + d, parts * t),
        },
        false,
      );
      policyImages.set(await this.radiographs(r.policy.images, part.length), c * chunk * per);
      if (anchorImages) anchorImages.set(await this.radiographs(r.anchor!.images, part.length), c * chunk * per);
    }
    if (anchorImages)
      this.anchorEvalCache = {
        seed,
        images: anchorImages,
        scores: await this.score(anchorImages, reports.length, reports),
      };
    const cache = this.anchorEvalCache!;
    const pol = await this.score(policyImages, reports.length, reports);
    const w = s.rewardWeights;
    const weighted = (x: ImageScores) =>
      w.align * (x.r_align ?? 0) + w.diag * (x.s_diag ?? 0) + w.cons * (x.s_cons ?? 0);
    const compare = (f: (x: ImageScores) => number | null): PairedComparison | null => {
      const idx = pol.flatMap((p, i) => (f(p) !== null && f(cache.scores[i]) !== null ? [i] : []));
      return idx.length >= 2
        ? pairedComparison(
            idx.map((i) => f(pol[i])!),
            idx.map((i) => f(cache.scores[i])!),
          )
        : null;
    };
    const metrics: EvalMetrics = {
      epoch: this.state.epoch,
      reports: reports.length,
      components: {
        r_align: compare((x) => x.r_align),
        s_diag: compare((x) => x.s_diag),
        s_cons: compare((x) => x.s_cons),
        total: compare(weighted),
      },
      seconds: (Date.now() - t0) / 1000,
    };
    return { metrics, policy: policyImages, anchor: cache.images };
  }
}

/** The engine's optimizer over the policy UNet (AdamW, as in DDPO). */
export function createPolicyOptimizer(policy: Generator, s: RlSettings): NativeOptimizer {
  return new (loadAddon().Optimizer)(policy.unet, { lr: s.lr, weightDecay: s.weightDecay });
}
