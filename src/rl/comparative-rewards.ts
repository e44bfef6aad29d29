/**
 * RLCF: the rewards of the policy's images, compared with the frozen anchor's images of the same
 * reports and noise (CXRL-METHOD.md, "RLCF"). Posture alignment is always direct; the diagnostic
 * and consistency scores are compared by the chosen mode:
 *   diff   r = s(x) - s(x_hat)          (the paper's formula; default)
 *   sign   r = sign(s(x) - s(x_hat))    (+1 win, 0 tie, -1 loss)
 *   direct r = s(x)                     (the paper's "w/o RLCF" ablation; the anchor is not needed)
 * Total reward r = w_align r_align + w_diag r_diag + w_cons r_cons. A score the models could not
 * give for an image (a report with no known label for the classifier) contributes 0.
 */
import type { ImageScores } from '../rewards/scorer';
import { UserError } from '../util/errors';

export type RlcfMode = 'diff' | 'sign' | 'direct';
export const RLCF_MODES: readonly RlcfMode[] = ['diff', 'sign', 'direct'];

export interface RewardWeights {
  align: number;
  diag: number;
  cons: number;
}

export const DEFAULT_REWARD_WEIGHTS: RewardWeights = { align: 1, diag: 1, cons: 1 };

/** Which score each weight reads, and the reward model kind that gives it. */
export const REWARD_COMPONENTS = [
  { weight: 'align', score: 'r_align', model: 'posture' },
  { weight: 'diag', score: 's_diag', model: 'classifier' },
  { weight: 'cons', score: 's_cons', model: 'consistency-image' },
] as const;

/** Parses `align=1,diag=0.5,cons=1` (names left out keep their default of 1). */
export function parseRewardWeights(text: string): RewardWeights {
  const w = { ...DEFAULT_REWARD_WEIGHTS };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(align|diag|cons)=(.+)$/.exec(part);
    if (!m) throw new UserError(`--reward-weights: "${part}" is not NAME=VALUE with NAME one of align, diag, cons`);
    const v = Number(m[2]);
    if (!Number.isFinite(v) || v < 0)
      throw new UserError(`--reward-weights: ${m[1]} must be a finite number >= 0, got ${m[2]}`);
    w[m[1] as keyof RewardWeights] = v;
  }
  if (w.align + w.diag + w.cons === 0) throw new UserError('--reward-weights: at least one weight must be above 0');
  return w;
}

export interface ComparedRewards {
  /** per image: the rewards that enter the total (after the RLCF comparison) */
  align: Float64Array;
  diag: Float64Array;
  cons: Float64Array;
  total: Float64Array;
}

function compare(s: number | null, anchor: number | null, mode: RlcfMode): number {
  if (s === null) return 0;
  if (mode === 'direct') return s;
  if (anchor === null) return 0;
  const d = s - anchor;
  return mode === 'diff' ? d : Math.sign(d);
}

/** `anchor` may be null only in direct mode. */
export function comparativeRewards(
  policy: ImageScores[],
  anchor: ImageScores[] | null,
  mode: RlcfMode,
  w: RewardWeights,
): ComparedRewards {
  if (mode !== 'direct' && (!anchor || anchor.length !== policy.length))
    throw new Error(`RLCF mode ${mode} needs one anchor score per policy image`);
  const n = policy.length;
  const out: ComparedRewards = {
    align: new Float64Array(n),
    diag: new Float64Array(n),
    cons: new Float64Array(n),
    total: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const p = policy[i],
      a = anchor?.[i];
    out.align[i] = p.r_align ?? 0;
    out.diag[i] = compare(p.s_diag, a?.s_diag ?? null, mode);
    out.cons[i] = compare(p.s_cons, a?.s_cons ?? null, mode);
    out.total[i] = w.align * out.align[i] + w.diag * out.diag[i] + w.cons * out.cons[i];
  }
  return out;
}
