/**
 * Float64 noise schedules written from diffusers' DDPMScheduler/DDIMScheduler formulas, independent
 * of the engine's code. (The DDIM step and PPO are checked against a PyTorch oracle instead:
 * test/reference/ddim_ppo_torch.py.)
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
