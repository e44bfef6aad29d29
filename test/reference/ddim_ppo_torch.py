"""An independent float64 oracle for the fused DDIM step and the PPO surrogate, written from the
formulas in shared/docs/CXRL-METHOD.md and diffusers' DDIMScheduler.step (prediction types,
clipping), with gradients from PyTorch autograd instead of hand-derived expressions.

Arguments: a JSON list of jobs, each {"kind": "step" | "ppo", "in": FILE, "out": FILE, "engine": FILE}.
"in" uses `cxrl-native debug step|ppo`'s input names; "engine" is what the engine wrote for it (its
x_prev, at which log-probs and gradients are evaluated, as re-scoring a stored step does).
Each job writes "out" (float64 safetensors)."""
import json
import math
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from safetensors_np import read_exact, write_f64  # noqa: E402

torch.set_default_dtype(torch.float64)


def t64(a):
    return torch.tensor(a, dtype=torch.float64)


def scalar(tensors, meta, name, default=None):
    if name in tensors:
        return float(tensors[name].reshape(-1)[0])
    if name in meta:
        return float(meta[name])
    if default is None:
        raise KeyError(name)
    return default


def per_sample(tensors, meta, name, batch):
    if name in tensors and tensors[name].size == batch and batch > 1:
        return t64(tensors[name].reshape(batch))
    return torch.full((batch,), scalar(tensors, meta, name))


def flag(tensors, meta, name):
    v = meta.get(name, str(float(tensors[name].reshape(-1)[0])) if name in tensors else None)
    return v is not None and v not in ("0", "0.0", "false")


def ddim_step(job):
    x_in, meta = read_exact(job["in"])
    engine, _ = read_exact(job["engine"])
    x = t64(x_in["sample"])
    B = x.shape[0]
    flat = lambda a: a.reshape(B, -1)  # noqa: E731
    guided = "eps_cond" in x_in
    cond = t64(x_in["eps_cond" if guided else "eps"]).requires_grad_(True)
    uncond = t64(x_in["eps_uncond"]).requires_grad_(True) if guided else None
    w = scalar(x_in, meta, "guidance_scale") if guided else 1.0
    a_t = per_sample(x_in, meta, "alpha_bar_t", B).reshape(B, *[1] * (x.dim() - 1))
    a_p = per_sample(x_in, meta, "alpha_bar_prev", B).reshape(B, *[1] * (x.dim() - 1))
    eta = scalar(x_in, meta, "eta")
    pred = meta.get("prediction_type", "epsilon")
    clip, r = flag(x_in, meta, "clip_sample"), scalar(x_in, meta, "clip_sample_range", 1.0)
    use_clipped = flag(x_in, meta, "use_clipped_model_output")

    # Classifier-free guidance.
    m = uncond + w * (cond - uncond) if guided else cond
    # diffusers DDIMScheduler.step: x0 and eps from the model output by prediction type.
    if pred == "epsilon":
        x0 = (x - torch.sqrt(1 - a_t) * m) / torch.sqrt(a_t)
        eps = m
    elif pred == "sample":
        x0 = m
        eps = (x - torch.sqrt(a_t) * x0) / torch.sqrt(1 - a_t)
    else:  # v_prediction
        x0 = torch.sqrt(a_t) * x - torch.sqrt(1 - a_t) * m
        eps = torch.sqrt(a_t) * m + torch.sqrt(1 - a_t) * x
    if clip:
        x0 = x0.clamp(-r, r)
    if use_clipped:
        eps = (x - torch.sqrt(a_t) * x0) / torch.sqrt(1 - a_t)
    variance = (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
    std = eta * torch.sqrt(variance)
    mu = torch.sqrt(a_p) * x0 + torch.sqrt(1 - a_p - std**2) * eps

    out = {}
    if "noise" in x_in:
        out["prev_sample"] = (mu + std * t64(x_in["noise"])).detach()
    # Log-density of the engine's x_prev (held fixed, as in DDPO), a mean over the elements.
    x_prev = t64(engine["prev_sample"])
    s = flat(std)[:, 0]
    if float(s.min()) > 0:
        lp = (-((x_prev - mu) ** 2) / (2 * std**2)).reshape(B, -1).mean(1) - torch.log(s) - 0.5 * math.log(2 * math.pi)
    else:
        lp = torch.zeros(B) + 0 * mu.reshape(B, -1).sum(1)
    out["log_prob"] = lp.detach()
    if "grad_log_prob" in x_in:
        g = t64(x_in["grad_log_prob"]).reshape(B)
        grads = torch.autograd.grad((g * lp).sum(), [cond] + ([uncond] if guided else []))
        if guided:
            out["grad_eps_cond"], out["grad_eps_uncond"] = grads
        else:
            out["grad_eps"] = grads[0]
    write_f64(job["out"], {k: v.numpy() for k, v in out.items()})


def ppo(job):
    x_in, meta = read_exact(job["in"])
    lp = t64(x_in["log_prob"]).reshape(-1).requires_grad_(True)
    old = t64(x_in["old_log_prob"]).reshape(-1)
    adv = t64(x_in["advantages"]).reshape(-1)
    eps = scalar(x_in, meta, "clip_range")
    adv = adv.clamp(-scalar(x_in, meta, "adv_clip_max"), scalar(x_in, meta, "adv_clip_max"))
    # CXRL-METHOD.md: loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))).
    ratio = torch.exp(lp - old)
    loss = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - eps, 1 + eps)).mean()
    (grad,) = torch.autograd.grad(loss, [lp])
    approx_kl = 0.5 * ((lp - old) ** 2).mean()
    clipfrac = ((ratio - 1).abs() > eps).double().mean()
    write_f64(
        job["out"],
        {
            "loss": loss.detach().numpy(),
            "grad_log_prob": grad.numpy(),
            "approx_kl": approx_kl.detach().numpy(),
            "clipfrac": clipfrac.numpy(),
        },
    )


for job in json.loads(sys.argv[1]):
    (ddim_step if job["kind"] == "step" else ppo)(job)
