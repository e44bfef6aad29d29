"""Independent PyTorch reference of diffusers' UNet2DConditionModel (functional, written for this
repo's tests; diffusers itself is not installed). Autograd gives every gradient.

usage: unet_reference.py CONFIG.json WEIGHTS.safetensors INPUT.safetensors OUT.safetensors
           [--fp16-copy PATH_F16 PATH_F16_AS_F32]
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_np as st
from diffusers_unet_keys import unet_keys


class ReferenceUNet:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.W = weights
        self.groups = cfg.get("norm_num_groups", 32)
        self.eps = cfg.get("norm_eps", 1e-5)
        self.linear_proj = cfg.get("use_linear_projection", False)
        n = len(cfg["block_out_channels"])
        heads = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
        self.heads = heads if isinstance(heads, list) else [heads] * n

    def conv(self, x, name, stride=1):
        w = self.W[name + ".weight"]
        return F.conv2d(x, w, self.W[name + ".bias"], stride=stride, padding=w.shape[-1] // 2)

    def lin(self, x, name, bias=True):
        return F.linear(x, self.W[name + ".weight"], self.W[name + ".bias"] if bias else None)

    def gn(self, x, name, eps):
        return F.group_norm(x, self.groups, self.W[name + ".weight"], self.W[name + ".bias"], eps)

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.W[name + ".weight"], self.W[name + ".bias"], 1e-5)

    def resnet(self, x, temb, name):
        h = self.conv(F.silu(self.gn(x, name + ".norm1", self.eps)), name + ".conv1")
        h = h + self.lin(F.silu(temb), name + ".time_emb_proj")[:, :, None, None]
        h = self.conv(F.silu(self.gn(h, name + ".norm2", self.eps)), name + ".conv2")
        if x.shape[1] != h.shape[1]:  # diffusers adds a 1x1 shortcut when the channel count changes
            x = self.conv(x, name + ".conv_shortcut")
        return x + h

    def attention(self, x, ctx, name, heads, mask):
        q = self.lin(x, name + ".to_q", bias=False)
        k, v = self.lin(ctx, name + ".to_k", bias=False), self.lin(ctx, name + ".to_v", bias=False)
        B, Lq, C = q.shape
        d = C // heads
        q = q.reshape(B, Lq, heads, d).transpose(1, 2)
        k = k.reshape(B, -1, heads, d).transpose(1, 2)
        v = v.reshape(B, -1, heads, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        if mask is not None:
            s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, Lq, C)
        return self.lin(o, name + ".to_out.0")

    def transformer(self, x, ctx, name, heads, mask):
        B, C, H, W = x.shape
        h = self.gn(x, name + ".norm", 1e-6)
        to_tokens = lambda t: t.permute(0, 2, 3, 1).reshape(B, H * W, C)
        if self.linear_proj:
            h = self.lin(to_tokens(h), name + ".proj_in")
        else:
            h = to_tokens(self.conv(h, name + ".proj_in"))
        blk = name + ".transformer_blocks.0"
        n1 = self.ln(h, blk + ".norm1")
        h = self.attention(n1, n1, blk + ".attn1", heads, None) + h
        h = self.attention(self.ln(h, blk + ".norm2"), ctx, blk + ".attn2", heads, mask) + h
        hidden, gate = self.lin(self.ln(h, blk + ".norm3"), blk + ".ff.net.0.proj").chunk(2, dim=-1)
        h = self.lin(hidden * F.gelu(gate), blk + ".ff.net.2") + h
        if self.linear_proj:
            h = self.lin(h, name + ".proj_out").reshape(B, H, W, C).permute(0, 3, 1, 2)
        else:
            h = self.conv(h.reshape(B, H, W, C).permute(0, 3, 1, 2), name + ".proj_out")
        return h + x

    def time_embedding(self, t):
        dim = self.cfg["block_out_channels"][0]
        half = dim // 2
        shift = self.cfg.get("freq_shift", 0)
        exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
        ang = t[:, None].float() * torch.exp(exponent)[None, :]
        emb = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)
        if self.cfg.get("flip_sin_to_cos", True):
            emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
        if dim % 2:
            emb = F.pad(emb, (0, 1))
        return emb

    def forward(self, sample, t, ctx, mask):
        cfg = self.cfg
        boc = cfg["block_out_channels"]
        n = len(boc)
        lpb = cfg.get("layers_per_block", 2)
        temb = self.lin(F.silu(self.lin(self.time_embedding(t), "time_embedding.linear_1")), "time_embedding.linear_2")
        h = self.conv(sample, "conv_in")
        skips = [h]
        for i, kind in enumerate(cfg["down_block_types"]):
            p = f"down_blocks.{i}"
            for j in range(lpb):
                h = self.resnet(h, temb, f"{p}.resnets.{j}")
                if kind.startswith("CrossAttn"):
                    h = self.transformer(h, ctx, f"{p}.attentions.{j}", self.heads[i], mask)
                skips.append(h)
            if i < n - 1:
                h = self.conv(h, f"{p}.downsamplers.0.conv", stride=2)
                skips.append(h)
        h = self.resnet(h, temb, "mid_block.resnets.0")
        h = self.transformer(h, ctx, "mid_block.attentions.0", self.heads[-1], mask)
        h = self.resnet(h, temb, "mid_block.resnets.1")
        rev_heads = list(reversed(self.heads))
        for i, kind in enumerate(cfg["up_block_types"]):
            p = f"up_blocks.{i}"
            for j in range(lpb + 1):
                h = torch.cat([h, skips.pop()], dim=1)
                h = self.resnet(h, temb, f"{p}.resnets.{j}")
                if kind.startswith("CrossAttn"):
                    h = self.transformer(h, ctx, f"{p}.attentions.{j}", rev_heads[i], mask)
            if i < n - 1:
                h = self.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"{p}.upsamplers.0.conv")
        return self.conv(F.silu(self.gn(h, "conv_norm_out", self.eps)), "conv_out")


def main(argv):
    cfg_path, w_path, in_path, out_path = argv[:4]
    cfg = json.load(open(cfg_path))
    raw_w, _ = st.read(w_path)
    if "--fp16-copy" in argv:
        i = argv.index("--fp16-copy")
        st.write(argv[i + 1], raw_w, dtype="F16")
        st.write(argv[i + 2], {k: v.astype(np.float16).astype(np.float32) for k, v in raw_w.items()})
    # The weights must be exactly diffusers' key set for this config (names and shapes), so the
    # reference never adapts to what the engine happens to write.
    st.require_key_set(raw_w, unet_keys(cfg))
    weights = {k: torch.tensor(v, requires_grad=True) for k, v in raw_w.items()}
    inp, _ = st.read(in_path)
    sample = torch.tensor(inp["sample"], requires_grad=True)
    ctx = torch.tensor(inp["encoder_hidden_states"], requires_grad=True)
    t = torch.tensor(inp["timestep"]).reshape(-1)
    if t.numel() == 1 and sample.shape[0] > 1:
        t = t.expand(sample.shape[0])
    mask = torch.tensor(inp["encoder_attention_mask"]) if "encoder_attention_mask" in inp else None
    out = ReferenceUNet(cfg, weights).forward(sample, t, ctx, mask)
    result = {"output": out.detach().numpy()}
    if "grad_output" in inp:
        out.backward(torch.tensor(inp["grad_output"]))
        result["grad.sample"] = sample.grad.numpy()
        result["grad.encoder_hidden_states"] = ctx.grad.numpy()
        for k, v in weights.items():
            if v.grad is None:
                raise SystemExit(f"parameter {k} received no gradient: the reference does not use it")
            result["grad." + k] = v.grad.numpy()
    st.write(out_path, result)
    print(f"reference: torch {torch.__version__}, {len(weights)} parameter tensors, wrote {len(result)} tensors")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1:])
