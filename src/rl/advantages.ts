/**
 * Advantages from rewards (CXRL-METHOD.md, "Policy gradient"):
 *   per-prompt  DDPO's statistics tracker: a buffer of the last `bufferSize` rewards per prompt;
 *               A = (r - mean) / (std + 1e-6) over the prompt's buffer, or over the whole batch
 *               while the prompt has fewer than `minCount` rewards (default);
 *   group       normalised within the k samples of one prompt in this batch (as GRPO does);
 *   batch       normalised over the whole batch.
 * std is the population standard deviation (numpy's default, as DDPO uses). Clipping to
 * +/- adv_clip_max happens in the PPO kernel.
 */
export type AdvantageMode = 'per-prompt' | 'group' | 'batch';
export const ADVANTAGE_MODES: readonly AdvantageMode[] = ['per-prompt', 'group', 'batch'];

const STD_EPS = 1e-6;

/** Mean and population standard deviation. */
export function meanStd(v: ArrayLike<number>): { mean: number; std: number } {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i];
  m /= v.length;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return { mean: m, std: Math.sqrt(s / v.length) };
}

export interface TrackerState {
  bufferSize: number;
  minCount: number;
  buffers: Record<string, number[]>;
}

export class PerPromptStatTracker {
  private readonly buffers = new Map<string, number[]>();

  constructor(
    readonly bufferSize = 32,
    readonly minCount = 16,
  ) {}

  /** Adds this batch's rewards to the buffers, then normalises each reward. */
  update(prompts: readonly string[], rewards: ArrayLike<number>): Float64Array {
    const batch = meanStd(rewards);
    const out = new Float64Array(rewards.length);
    for (const p of new Set(prompts)) {
      const idx = prompts.flatMap((q, i) => (q === p ? [i] : []));
      const buf = this.buffers.get(p) ?? [];
      buf.push(...idx.map((i) => rewards[i]));
      if (buf.length > this.bufferSize) buf.splice(0, buf.length - this.bufferSize);
      this.buffers.set(p, buf);
      const s = buf.length < this.minCount ? batch : meanStd(buf);
      for (const i of idx) out[i] = (rewards[i] - s.mean) / (s.std + STD_EPS);
    }
    return out;
  }

  get promptCount(): number {
    return this.buffers.size;
  }

  state(): TrackerState {
    return { bufferSize: this.bufferSize, minCount: this.minCount, buffers: Object.fromEntries(this.buffers) };
  }

  static fromState(s: TrackerState): PerPromptStatTracker {
    const t = new PerPromptStatTracker(s.bufferSize, s.minCount);
    for (const [k, v] of Object.entries(s.buffers)) t.buffers.set(k, [...v]);
    return t;
  }
}

/** (r - mean) / (std + 1e-6) within each group of equal keys. */
export function groupAdvantages(keys: readonly string[], rewards: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rewards.length);
  for (const k of new Set(keys)) {
    const idx = keys.flatMap((q, i) => (q === k ? [i] : []));
    const s = meanStd(idx.map((i) => rewards[i]));
    for (const i of idx) out[i] = (rewards[i] - s.mean) / (s.std + STD_EPS);
  }
  return out;
}

export function batchAdvantages(rewards: ArrayLike<number>): Float64Array {
  return groupAdvantages(
    Array.from({ length: rewards.length }, () => ''),
    rewards,
  );
}
