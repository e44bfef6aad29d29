"""Independent float64 PyTorch reference of diffusers' AutoencoderKL (functional, written for this
repo's tests from diffusers' module structure; diffusers itself is not installed).

usage: vae_reference.py --keys CONFIG.json OUT.json   (diffusers' key set with shapes)
       vae_reference.py CONFIG.json WEIGHTS.safetensors INPUT.safetensors OUT.safetensors
           [--legacy-names PATH]   also write the weights with the older attention names
                                   (query, key, value, proj_attn) to PATH

INPUT holds `latents` and/or `images`; OUT gets `sample` = decode(latents) (post_quant_conv, then
the decoder) and `latent_mean` / `latent_logvar` (encoder, quant_conv, logvar clamped to [-30, 20]).
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_np as st

EPS = 1e-6  # every GroupNorm in diffusers' Encoder/Decoder (resnet_eps, attention, conv_norm_out)


def vae_keys(cfg):
    """diffusers' AutoencoderKL state-dict keys and shapes for this config."""
    boc = cfg["block_out_channels"]
    lpb = cfg.get("layers_per_block", 1)
    lat = cfg.get("latent_channels", 4)
    keys = {}

    def conv(name, cin, cout, k):
        keys[name + ".weight"] = [cout, cin, k, k]
        keys[name + ".bias"] = [cout]

    def norm(name, c):
        keys[name + ".weight"] = [c]
        keys[name + ".bias"] = [c]

    def resnet(name, cin, cout):
        norm(name + ".norm1", cin)
        conv(name + ".conv1", cin, cout, 3)
        norm(name + ".norm2", cout)
        conv(name + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(name + ".conv_shortcut", cin, cout, 1)

    def mid(name, c):
        resnet(name + ".resnets.0", c, c)
        if cfg.get("mid_block_add_attention", True):
            a = name + ".attentions.0"
            norm(a + ".group_norm", c)
            for p in ("to_q", "to_k", "to_v", "to_out.0"):
                keys[f"{a}.{p}.weight"] = [c, c]
                keys[f"{a}.{p}.bias"] = [c]
        resnet(name + ".resnets.1", c, c)

    conv("encoder.conv_in", cfg.get("in_channels", 3), boc[0], 3)
    out = boc[0]
    for i, ch in enumerate(boc):
        cin, out = out, ch
        for j in range(lpb):
            resnet(f"encoder.down_blocks.{i}.resnets.{j}", cin if j == 0 else out, out)
        if i < len(boc) - 1:
            conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", out, out, 3)
    mid("encoder.mid_block", boc[-1])
    norm("encoder.conv_norm_out", boc[-1])
    conv("encoder.conv_out", boc[-1], 2 * lat, 3)

    rev = list(reversed(boc))
    conv("decoder.conv_in", lat, rev[0], 3)
    mid("decoder.mid_block", rev[0])
    out = rev[0]
    for i, ch in enumerate(rev):
        cin, out = out, ch
        for j in range(lpb + 1):
            resnet(f"decoder.up_blocks.{i}.resnets.{j}", cin if j == 0 else out, out)
        if i < len(rev) - 1:
            conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", out, out, 3)
    norm("decoder.conv_norm_out", rev[-1])
    conv("decoder.conv_out", rev[-1], cfg.get("out_channels", 3), 3)
    if cfg.get("use_quant_conv", True):
        conv("quant_conv", 2 * lat, 2 * lat, 1)
    if cfg.get("use_post_quant_conv", True):
        conv("post_quant_conv", lat, lat, 1)
    return keys


class ReferenceVae:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.W = weights
        self.groups = cfg.get("norm_num_groups", 32)

    def conv(self, x, name, stride=1, padding=None):
        w = self.W[name + ".weight"]
        pad = w.shape[-1] // 2 if padding is None else padding
        return F.conv2d(x, w, self.W[name + ".bias"], stride=stride, padding=pad)

    def gn(self, x, name):
        return F.group_norm(x, self.groups, self.W[name + ".weight"], self.W[name + ".bias"], EPS)

    def resnet(self, x, name):
        h = self.conv(F.silu(self.gn(x, name + ".norm1")), name + ".conv1")
        h = self.conv(F.silu(self.gn(h, name + ".norm2")), name + ".conv2")
        if x.shape[1] != h.shape[1]:
            x = self.conv(x, name + ".conv_shortcut")
        return x + h

    def attention(self, x, name):
        B, C, H, W = x.shape
        t = self.gn(x, name + ".group_norm").reshape(B, C, H * W).transpose(1, 2)
        lin = lambda v, p: F.linear(v, self.W[f"{name}.{p}.weight"], self.W[f"{name}.{p}.bias"])
        q, k, v = lin(t, "to_q"), lin(t, "to_k"), lin(t, "to_v")
        p = (q @ k.transpose(1, 2) / math.sqrt(C)).softmax(-1)  # one head of width C
        o = lin(p @ v, "to_out.0")
        return o.transpose(1, 2).reshape(B, C, H, W) + x

    def mid(self, h, name):
        h = self.resnet(h, name + ".resnets.0")
        if self.cfg.get("mid_block_add_attention", True):
            h = self.attention(h, name + ".attentions.0")
        return self.resnet(h, name + ".resnets.1")

    def encode(self, x):
        boc = self.cfg["block_out_channels"]
        lpb = self.cfg.get("layers_per_block", 1)
        h = self.conv(x, "encoder.conv_in")
        for i in range(len(boc)):
            for j in range(lpb):
                h = self.resnet(h, f"encoder.down_blocks.{i}.resnets.{j}")
            if i < len(boc) - 1:  # Downsample2D(padding=0): pad right and bottom by one, stride 2
                h = self.conv(F.pad(h, (0, 1, 0, 1)), f"encoder.down_blocks.{i}.downsamplers.0.conv", 2, 0)
        h = self.mid(h, "encoder.mid_block")
        h = self.conv(F.silu(self.gn(h, "encoder.conv_norm_out")), "encoder.conv_out")
        if self.cfg.get("use_quant_conv", True):
            h = self.conv(h, "quant_conv")
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        boc = self.cfg["block_out_channels"]
        lpb = self.cfg.get("layers_per_block", 1)
        if self.cfg.get("use_post_quant_conv", True):
            z = self.conv(z, "post_quant_conv")
        h = self.mid(self.conv(z, "decoder.conv_in"), "decoder.mid_block")
        for i in range(len(boc)):
            for j in range(lpb + 1):
                h = self.resnet(h, f"decoder.up_blocks.{i}.resnets.{j}")
            if i < len(boc) - 1:
                h = self.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"decoder.up_blocks.{i}.upsamplers.0.conv")
        return self.conv(F.silu(self.gn(h, "decoder.conv_norm_out")), "decoder.conv_out")


def legacy_name(key):
    for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."), (".to_out.0.", ".proj_attn.")):
        if ".attentions." in key and new in key:
            return key.replace(new, old)
    return key


def main(argv):
    if argv[0] == "--keys":  # vae_reference.py --keys CONFIG.json OUT.json: the key set alone
        json.dump(vae_keys(json.load(open(argv[1]))), open(argv[2], "w"))
        return
    cfg_path, w_path, in_path, out_path = argv[:4]
    cfg = json.load(open(cfg_path))
    raw_w, _ = st.read(w_path)
    # Exactly diffusers' key set for this config, so the reference never adapts to the engine.
    st.require_key_set(raw_w, vae_keys(cfg))
    if "--legacy-names" in argv:
        st.write(argv[argv.index("--legacy-names") + 1], {legacy_name(k): v for k, v in raw_w.items()})
    weights = {k: torch.tensor(v, dtype=torch.float64) for k, v in raw_w.items()}
    inp, _ = st.read(in_path)
    vae = ReferenceVae(cfg, weights)
    result = {}
    with torch.no_grad():
        if "latents" in inp:
            result["sample"] = vae.decode(torch.tensor(inp["latents"], dtype=torch.float64)).numpy()
        if "images" in inp:
            mean, logvar = vae.encode(torch.tensor(inp["images"], dtype=torch.float64))
            result["latent_mean"], result["latent_logvar"] = mean.numpy(), logvar.numpy()
    st.write_f64(out_path, result)
    print(f"vae reference: torch {torch.__version__} float64, {len(weights)} parameter tensors, wrote {sorted(result)}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1:])
