#!/usr/bin/env python3
"""PyTorch eager on the same GPU and the same work as native/bench/cuda/unet_bench.cc: an
SD-v1.x-sized UNet (test/reference/unet_reference.py, attention through
scaled_dot_product_attention as diffusers runs it) timed for its inference forward (batch 8),
its training step (forward, MSE, backward, clipped AdamW) and a 50-step guided DDIM sampling loop
(batch 4, [uncond; cond] rows), in fp32 (TF32 off) and bf16 (autocast). Also tries torch.compile
for the forward. Prints one JSON object. Used by scripts/device-check.sh."""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "reference"))
from diffusers_unet_keys import unet_keys  # noqa: E402
from unet_reference import ReferenceUNet  # noqa: E402


class BenchUNet(ReferenceUNet):
    """The reference UNet with fused attention and its time embedding on the input's device."""

    def attention(self, x, ctx, name, heads, mask):
        if not hasattr(F, "scaled_dot_product_attention"):  # PyTorch < 2 (a CPU check of this script)
            return super().attention(x, ctx, name, heads, mask)
        q = self.lin(x, name + ".to_q", bias=False)
        k, v = self.lin(ctx, name + ".to_k", bias=False), self.lin(ctx, name + ".to_v", bias=False)
        B, Lq, C = q.shape
        d = C // heads
        split = lambda t: t.reshape(B, -1, heads, d).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v))
        return self.lin(o.transpose(1, 2).reshape(B, Lq, C), name + ".to_out.0")

    def time_embedding(self, t):
        dim = self.cfg["block_out_channels"][0]
        half = dim // 2
        exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half
        ang = t[:, None].float() * torch.exp(exponent)[None, :]
        return torch.cat([torch.cos(ang), torch.sin(ang)], dim=-1)  # flip_sin_to_cos


def wall_seconds(fn, iters):
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = json.load(open(os.path.join(ROOT, "test", "reference", "sd-v1-unet-config.json")))
    gen = torch.Generator(device="cuda").manual_seed(0)
    weights = {
        k: (torch.randn(shape, device="cuda", generator=gen) * 0.02).requires_grad_(True)
        for k, shape in unet_keys(cfg).items()
    }
    unet = BenchUNet(cfg, weights)
    params = list(weights.values())
    opt = torch.optim.AdamW(params, lr=1e-6)
    S, L, D, C = 64, 77, cfg["cross_attention_dim"], cfg["in_channels"]
    B, Bs = 8, 4
    x, target = torch.randn(B, C, S, S, device="cuda"), torch.randn(B, C, S, S, device="cuda")
    ctx, t = torch.randn(B, L, D, device="cuda"), torch.full((B,), 500.0, device="cuda")
    ctx2, t2 = torch.randn(2 * Bs, L, D, device="cuda"), torch.full((2 * Bs,), 500.0, device="cuda")
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0),
           "parameters": sum(p.numel() for p in params)}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        autocast = lambda: torch.autocast("cuda", dtype=dtype, enabled=dtype is not None)

        def forward():
            with torch.no_grad(), autocast():
                unet.forward(x, t, ctx, None)

        def train_step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = F.mse_loss(unet.forward(x, t, ctx, None).float(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        def sampling_loop():
            xs = torch.randn(Bs, C, S, S, device="cuda")
            a_t, a_p, w = 0.5, 0.6, 7.5
            with torch.no_grad(), autocast():
                for _ in range(50):
                    eps = unet.forward(torch.cat([xs, xs]), t2, ctx2, None).float()
                    e = eps[:Bs] + w * (eps[Bs:] - eps[:Bs])
                    x0 = (xs - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
                    xs = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * e

        torch.cuda.reset_peak_memory_stats()
        r = {f"forward_batch{B}_ms": wall_seconds(forward, 3) * 1e3}
        r[f"train_step_batch{B}_ms"] = wall_seconds(train_step, 3) * 1e3
        r["train_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
        r[f"sampling_50_steps_batch{Bs}_s"] = wall_seconds(sampling_loop, 1)
        out[name] = r
        print(json.dumps({name: r}), file=sys.stderr, flush=True)
    def clip_and_adamw():  # the gradients of the last training step are still there
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    out["clip_and_adamw_ms"] = wall_seconds(clip_and_adamw, 5) * 1e3
    out["tensors"] = len(params)
    try:
        compiled = torch.compile(lambda a, b, c: unet.forward(a, b, c, None))

        def forward_compiled():
            with torch.no_grad():
                compiled(x, t, ctx)

        out["compiled_fp32"] = {f"forward_batch{B}_ms": wall_seconds(forward_compiled, 3) * 1e3}
    except Exception as e:  # torch.compile needs a working Triton toolchain
        out["compiled_fp32"] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
