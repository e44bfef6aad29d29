"""The engine's UNet forward and backward (written by cxrl_unet_dump) against PyTorch on a device.

usage: unet_torch_parity.py CONFIG.json DUMP_DIR [--device cpu|cuda] [--tol 1e-3]

Runs the independent functional reference of test/reference/unet_reference.py (autograd for every
gradient; TF32 off) on DUMP_DIR/weights.safetensors and input.safetensors, on the given device, and
compares DUMP_DIR/engine.safetensors with it: the output, d/d sample and d/d context each relative
to their own largest value; each parameter gradient relative to its own largest value, floored at
1% of the network's largest (a bare per-tensor scale would judge float noise: a bias before a
GroupNorm of one channel per group has a gradient that is exactly zero in exact arithmetic). Prints
one line per group and the worst parameter tensor; exit status 1 when any group is above --tol.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "reference"))
import safetensors_np as st  # noqa: E402
from diffusers_unet_keys import unet_keys  # noqa: E402
from unet_reference import ReferenceUNet  # noqa: E402


def reference(cfg, dump_dir, device):
    raw_w, _ = st.read(os.path.join(dump_dir, "weights.safetensors"))
    st.require_key_set(raw_w, unet_keys(cfg))  # exactly diffusers' names and shapes
    inp, _ = st.read(os.path.join(dump_dir, "input.safetensors"))
    on = lambda a, grad=False: torch.tensor(a, device=device, requires_grad=grad)
    weights = {k: on(v, True) for k, v in raw_w.items()}
    sample, ctx = on(inp["sample"], True), on(inp["encoder_hidden_states"], True)
    mask = on(inp["encoder_attention_mask"]) if "encoder_attention_mask" in inp else None
    out = ReferenceUNet(cfg, weights).forward(sample, on(inp["timestep"]).reshape(-1), ctx, mask)
    out.backward(on(inp["grad_output"]))
    got = {"output": out, "grad.sample": sample.grad, "grad.encoder_hidden_states": ctx.grad}
    got.update({"grad." + k: v.grad for k, v in weights.items()})
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in got.items()}


PARAM_SCALE_FLOOR = 1e-2


def compare(engine, ref):
    """[(group, max relative error, detail)]."""
    rows = []
    for name in ("output", "grad.sample", "grad.encoder_hidden_states"):
        e, r = engine[name].astype(np.float64), ref[name]
        rows.append((name, np.abs(e - r).max() / max(np.abs(r).max(), 1e-30), f"max |ref| {np.abs(r).max():.3g}"))
    params = [k for k in ref if k.startswith("grad.") and k not in ("grad.sample", "grad.encoder_hidden_states")]
    missing = [k for k in params if k not in engine]
    if missing:
        raise SystemExit(f"engine.safetensors lacks {len(missing)} parameter gradients, e.g. {missing[0]}")
    # Each tensor over its own largest value, floored at 1% of the network's largest (the rule of the
    # CUDA tests' ParamScale::kFloored, native/tests/cuda/cuda_compare.h).
    floor = PARAM_SCALE_FLOOR * max(np.abs(ref[k]).max() for k in params)
    errors = {k: np.abs(engine[k].astype(np.float64) - ref[k]).max() / max(np.abs(ref[k]).max(), floor, 1e-30)
              for k in params}
    worst = max(errors, key=errors.get)
    rows.append(("parameter gradients", errors[worst],
                 f"{len(params)} tensors, each at least 1% of the largest; worst {worst[5:]}"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("dump_dir")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    cfg = json.load(open(a.config))
    engine, _ = st.read(os.path.join(a.dump_dir, "engine.safetensors"))
    rows = compare(engine, reference(cfg, a.dump_dir, a.device))
    where = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    print(f"UNet {os.path.basename(a.config)} against PyTorch {torch.__version__} on {where} (tolerance {a.tol:g}):")
    for group, err, detail in rows:
        print(f"  {group:28s} max rel err {err:.2e}  ({detail}){'  FAIL' if not err <= a.tol else ''}")
    return 0 if all(err <= a.tol for _, err, _ in rows) else 1


if __name__ == "__main__":
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    sys.exit(main())
