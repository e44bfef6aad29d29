"""DDIM timesteps and alpha-bars computed with numpy from diffusers' DDIMScheduler formulas
(set_timesteps and step's previous-timestep rule), independently of the engine. Argument: a JSON
list of {config, steps}; prints a JSON list of [{t, prev_t, alpha_bar_t, alpha_bar_prev}, ...]."""
import json
import sys

import numpy as np


def schedule(c, steps):
    T = c.get("num_train_timesteps", 1000)
    b0, b1 = c.get("beta_start", 0.00085), c.get("beta_end", 0.012)
    kind = c.get("beta_schedule", "scaled_linear")
    if kind == "linear":
        betas = np.linspace(b0, b1, T, dtype=np.float64)
    elif kind == "scaled_linear":
        betas = np.linspace(b0**0.5, b1**0.5, T, dtype=np.float64) ** 2
    else:
        raise ValueError(kind)
    acp = np.cumprod(1.0 - betas)
    final = 1.0 if c.get("set_alpha_to_one", False) else acp[0]
    spacing = c.get("timestep_spacing", "leading")
    if spacing == "leading":
        ratio = T // steps
        ts = (np.arange(0, steps) * ratio).round()[::-1].astype(np.int64) + c.get("steps_offset", 1)
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / steps)).astype(np.int64) - 1
    else:
        ts = np.linspace(0, T - 1, steps).round()[::-1].astype(np.int64)
    out = []
    for t in ts:
        prev = int(t) - T // steps
        out.append({"t": int(t), "prev_t": prev, "alpha_bar_t": float(acp[t]), "alpha_bar_prev": float(acp[prev] if prev >= 0 else final)})
    return out


cases = json.loads(sys.argv[1])
print(json.dumps([schedule(c["config"], c["steps"]) for c in cases]))
