/**
 * Float64 references written directly from the formulas (CXRL-METHOD.md; DDPO's
 * ddim_step_with_logprob; diffusers' schedulers), independent of the engine's code.
 */
export function referenceBetas(schedule: string, T: number, start: number, end: number): number[] {
  const betas: number[] = [];
  for (let i = 0; i < T; i++) {
    if (schedule === 'linear') betas.push(start + ((end - start) * i) / (T - 1));
    else if (schedule === 'scaled_linear')
      betas.push((Math.sqrt(start) + ((Math.sqrt(end) - Math.sqrt(start)) * i) / (T - 1)) ** 2);
    else {
      const ab = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      betas.push(Math.min(1 - ab((i + 1) / T) / ab(i / T), 0.999));
    }
  }
  return betas;
}

export function referenceAlphasCumprod(betas: number[]): number[] {
  let p = 1;
  return betas.map((b) => (p *= 1 - b));
}

export interface RefStepArgs {
  B: number;
  N: number;
  x: Float32Array;
  cond: Float32Array;
  uncond?: Float32Array;
  w: number;
  abarT: number[];
  abarPrev: number[];
  eta: number;
  pred: 'epsilon' | 'sample' | 'v_prediction';
  clip: boolean;
  r: number;
  useClipped: boolean;
}

interface ElementResult {
  mu: number;
  std: number;
  dmuDm: number;
}

function element(a: RefStepArgs, k: number): ElementResult {
  const b = Math.floor(k / a.N);
  const at = a.abarT[b],
    ap = a.abarPrev[b];
  const m = a.uncond ? a.uncond[k] + a.w * (a.cond[k] - a.uncond[k]) : a.cond[k];
  const x = a.x[k];
  let x0: number, eps: number, dx0: number, deps: number;
  if (a.pred === 'epsilon') {
    eps = m;
    x0 = (x - Math.sqrt(1 - at) * m) / Math.sqrt(at);
    dx0 = -Math.sqrt(1 - at) / Math.sqrt(at);
    deps = 1;
  } else if (a.pred === 'sample') {
    x0 = m;
    eps = (x - Math.sqrt(at) * m) / Math.sqrt(1 - at);
    dx0 = 1;
    deps = -Math.sqrt(at) / Math.sqrt(1 - at);
  } else {
    x0 = Math.sqrt(at) * x - Math.sqrt(1 - at) * m;
    eps = Math.sqrt(at) * m + Math.sqrt(1 - at) * x;
    dx0 = -Math.sqrt(1 - at);
    deps = Math.sqrt(at);
  }
  if (a.clip) {
    if (x0 < -a.r || x0 > a.r) dx0 = 0;
    x0 = Math.min(Math.max(x0, -a.r), a.r);
  }
  if (a.useClipped) {
    eps = (x - Math.sqrt(at) * x0) / Math.sqrt(1 - at);
    deps = (-Math.sqrt(at) / Math.sqrt(1 - at)) * dx0;
  }
  const variance = ((1 - ap) / (1 - at)) * (1 - at / ap);
  const std = a.eta * Math.sqrt(variance);
  const dir = Math.sqrt(1 - ap - std * std);
  return { mu: Math.sqrt(ap) * x0 + dir * eps, std, dmuDm: Math.sqrt(ap) * dx0 + dir * deps };
}

/** x_prev = mu + std * noise (float64), and log-probs evaluated at the given prev (float32 values). */
export function referenceStep(a: RefStepArgs, noise: Float32Array | null, prevForLogProb: Float32Array | null) {
  const prev = new Float64Array(a.B * a.N);
  const logProb = new Float64Array(a.B);
  for (let b = 0; b < a.B; b++) {
    let sum = 0;
    let std = 0;
    for (let i = 0; i < a.N; i++) {
      const k = b * a.N + i;
      const e = element(a, k);
      std = e.std;
      prev[k] = noise ? e.mu + e.std * noise[k] : e.mu;
      const at = prevForLogProb ? prevForLogProb[k] : prev[k];
      sum += -((at - e.mu) ** 2) / (2 * e.std * e.std) - Math.log(e.std) - Math.log(Math.sqrt(2 * Math.PI));
    }
    logProb[b] = std > 0 ? sum / a.N : 0;
  }
  return { prev, logProb };
}

/** d(sum_b g_b logProb_b)/d(cond) and d/d(uncond), x_prev fixed. */
export function referenceStepGrad(a: RefStepArgs, prev: Float32Array, g: Float64Array) {
  const gc = new Float64Array(a.B * a.N),
    gu = new Float64Array(a.B * a.N);
  for (let k = 0; k < a.B * a.N; k++) {
    const b = Math.floor(k / a.N);
    const e = element(a, k);
    const dm = e.std > 0 ? ((g[b] * (prev[k] - e.mu)) / (e.std * e.std * a.N)) * e.dmuDm : 0;
    gc[k] = a.uncond ? a.w * dm : dm;
    gu[k] = (1 - a.w) * dm;
  }
  return { gradCond: gc, gradUncond: gu };
}

export function referencePpo(lp: Float64Array, old: Float64Array, adv: Float64Array, clip: number, advMax: number) {
  const B = lp.length;
  let loss = 0,
    kl = 0,
    clipped = 0;
  const grad = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const A = Math.min(Math.max(adv[b], -advMax), advMax);
    const ratio = Math.exp(lp[b] - old[b]);
    const u = -A * ratio;
    const c = -A * Math.min(Math.max(ratio, 1 - clip), 1 + clip);
    loss += Math.max(u, c);
    // derivative of max(u, c) in ratio: u's branch unless c is strictly larger (then c is flat outside the range)
    grad[b] = (u >= c ? -A * ratio : ratio >= 1 - clip && ratio <= 1 + clip ? -A * ratio : 0) / B;
    kl += 0.5 * (lp[b] - old[b]) ** 2;
    clipped += Math.abs(ratio - 1) > clip ? 1 : 0;
  }
  return { loss: loss / B, approxKl: kl / B, clipfrac: clipped / B, grad };
}
