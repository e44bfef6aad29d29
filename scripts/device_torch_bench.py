#!/usr/bin/env python3
"""PyTorch eager on the same GPU, same shapes as native/bench/cuda/cuda_bench_main.cc: the DDIM step
with log-prob as DDPO writes it (separate tensor ops, float32), fp32 GEMM with TF32 off,
GroupNorm + SiLU, a 3x3 convolution, and scaled-dot-product attention in float32 and bfloat16. Prints one JSON object. Used by scripts/device-check.sh."""
import json
import math

import torch


def seconds_per_call(fn, iters):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / iters


def ddim_step(batch, per_sample, iters=50):
    dev = "cuda"
    x, cond, uncond = (torch.zeros(batch, per_sample, device=dev) for _ in range(3))
    sqrt_a, sqrt_1ma, sqrt_ap, direction, std, w = 0.5**0.5, 0.5**0.5, 0.6**0.5, 0.55, 0.3, 5.0

    def step():
        m = uncond + w * (cond - uncond)
        x0 = (x - sqrt_1ma * m) / sqrt_a
        mu = sqrt_ap * x0 + direction * m
        prev = mu + std * torch.randn_like(mu)
        lp = (-((prev - mu) ** 2) / (2 * std * std)).mean(dim=1) - math.log(std) - 0.5 * math.log(2 * math.pi)
        return prev, lp

    s = seconds_per_call(step, iters)
    nbytes = batch * per_sample * 4 * 4  # x, two model outputs read; x_prev written (as the engine counts)
    return {"batch": batch, "per_sample": per_sample, "torch_us": s * 1e6, "torch_GBps": nbytes / s / 1e9}


def sgemm(M, N, K):
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.zeros(M, K, device="cuda")
    b = torch.zeros(N, K, device="cuda")
    s = seconds_per_call(lambda: a @ b.t(), 10)
    return {"M": M, "N": N, "K": K, "torch_TFLOPs": 2.0 * M * N * K / s / 1e12}


def group_norm_silu(B, C, S, G):
    x = torch.zeros(B, C, S, device="cuda")
    gamma = torch.ones(C, device="cuda")
    beta = torch.zeros(C, device="cuda")
    s = seconds_per_call(lambda: torch.nn.functional.silu(torch.nn.functional.group_norm(x, G, gamma, beta)), 20)
    return {"B": B, "C": C, "S": S, "G": G, "torch_us": s * 1e6, "torch_GBps_read_plus_write": 2 * x.numel() * 4 / s / 1e9}


def conv3x3(B, C, HW, dtype=torch.float32):
    torch.backends.cudnn.allow_tf32 = False
    x = torch.zeros(B, C, HW, HW, device="cuda", dtype=dtype, requires_grad=True)
    conv = torch.nn.Conv2d(C, C, 3, padding=1).cuda().to(dtype)
    fwd = seconds_per_call(lambda: conv(x), 5)
    y = conv(x)
    g = torch.zeros_like(y)
    bwd = seconds_per_call(lambda: torch.autograd.grad(y, [x, conv.weight, conv.bias], g, retain_graph=True), 5)
    flops = 2.0 * B * C * C * 9 * HW * HW
    return {"B": B, "C": C, "HW": HW, "dtype": str(dtype).replace("torch.", ""), "torch_forward_ms": fwd * 1e3,
            "torch_forward_TFLOPs": flops / fwd / 1e12, "torch_backward_ms": bwd * 1e3,
            "torch_backward_TFLOPs": 2 * flops / bwd / 1e12}


def attention(B, H, d, L, dtype=torch.float32):
    q, k, v = (torch.zeros(B, H, L, d, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    fwd = seconds_per_call(lambda: sdpa(q, k, v), 3)
    y = sdpa(q, k, v)
    g = torch.zeros_like(y)
    bwd = seconds_per_call(lambda: torch.autograd.grad(y, [q, k, v], g, retain_graph=True), 3)
    return {"B": B, "H": H, "d": d, "L": L, "dtype": str(dtype).replace("torch.", ""), "torch_forward_ms": fwd * 1e3,
            "torch_backward_ms": bwd * 1e3}


def main():
    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "ddim_step": [ddim_step(8, 4 * 64 * 64), ddim_step(64, 4 * 128 * 128)],
        "sgemm_fp32": [sgemm(4096, 4096, 4096), sgemm(8 * 4096, 1280, 320)],
        "group_norm_silu": [group_norm_silu(8, 320, 64 * 64, 32)],
        "conv3x3": [conv3x3(8, 320, 64), conv3x3(8, 320, 64, torch.bfloat16), conv3x3(8, 1280, 8),
                    conv3x3(8, 1280, 8, torch.bfloat16)],
        "attention": [attention(8, 8, 40, 4096), attention(8, 8, 40, 4096, torch.bfloat16)],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
