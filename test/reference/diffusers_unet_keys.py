"""The parameter names and shapes of diffusers' UNet2DConditionModel (CrossAttnDownBlock2D /
DownBlock2D / CrossAttnUpBlock2D / UpBlock2D, UNetMidBlock2DCrossAttn, one transformer layer per
attention), written from the module structure of diffusers' public source (unet_2d_condition.py,
unet_2d_blocks.py, resnet.py, transformer_2d.py, attention.py, attention_processor.py,
embeddings.py), not from anything the engine writes.

Argument: a diffusers config.json path. Prints a JSON object {name: shape} to stdout."""
import json
import sys


def unet_keys(c):
    boc = c["block_out_channels"]
    lpb = c.get("layers_per_block", 2)
    cross = c.get("cross_attention_dim", 1280)
    linear = c.get("use_linear_projection", False)
    t_dim = boc[0] * 4  # TimestepEmbedding(boc[0], 4 * boc[0])
    keys = {}

    def add(name, *shape):
        keys[name] = list(shape)

    def conv(name, cout, cin, k):
        add(name + ".weight", cout, cin, k, k)
        add(name + ".bias", cout)

    def linear_layer(name, cout, cin, bias=True):
        add(name + ".weight", cout, cin)
        if bias:
            add(name + ".bias", cout)

    def norm(name, ch):  # GroupNorm or LayerNorm: affine weight and bias
        add(name + ".weight", ch)
        add(name + ".bias", ch)

    def resnet(name, cin, cout):  # ResnetBlock2D with a time embedding projection
        norm(name + ".norm1", cin)
        conv(name + ".conv1", cout, cin, 3)
        linear_layer(name + ".time_emb_proj", cout, t_dim)
        norm(name + ".norm2", cout)
        conv(name + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(name + ".conv_shortcut", cout, cin, 1)

    def transformer(name, ch):  # Transformer2DModel, one BasicTransformerBlock, GEGLU feed-forward
        norm(name + ".norm", ch)
        if linear:
            linear_layer(name + ".proj_in", ch, ch)
        else:
            conv(name + ".proj_in", ch, ch, 1)
        blk = name + ".transformer_blocks.0"
        for i, kv in ((1, ch), (2, cross)):  # attn1: self-attention; attn2: cross-attention
            norm(f"{blk}.norm{i}", ch)
            linear_layer(f"{blk}.attn{i}.to_q", ch, ch, bias=False)
            linear_layer(f"{blk}.attn{i}.to_k", ch, kv, bias=False)
            linear_layer(f"{blk}.attn{i}.to_v", ch, kv, bias=False)
            linear_layer(f"{blk}.attn{i}.to_out.0", ch, ch)
        norm(f"{blk}.norm3", ch)
        linear_layer(f"{blk}.ff.net.0.proj", 2 * 4 * ch, ch)
        linear_layer(f"{blk}.ff.net.2", ch, 4 * ch)
        if linear:
            linear_layer(name + ".proj_out", ch, ch)
        else:
            conv(name + ".proj_out", ch, ch, 1)

    conv("conv_in", boc[0], c.get("in_channels", 4), 3)
    linear_layer("time_embedding.linear_1", t_dim, boc[0])
    linear_layer("time_embedding.linear_2", t_dim, t_dim)

    out_ch = boc[0]
    for i, kind in enumerate(c["down_block_types"]):
        in_ch, out_ch = out_ch, boc[i]
        for j in range(lpb):
            resnet(f"down_blocks.{i}.resnets.{j}", in_ch if j == 0 else out_ch, out_ch)
            if kind.startswith("CrossAttn"):
                transformer(f"down_blocks.{i}.attentions.{j}", out_ch)
        if i < len(boc) - 1:
            conv(f"down_blocks.{i}.downsamplers.0.conv", out_ch, out_ch, 3)

    mid = boc[-1]
    resnet("mid_block.resnets.0", mid, mid)
    transformer("mid_block.attentions.0", mid)
    resnet("mid_block.resnets.1", mid, mid)

    rev = list(reversed(boc))
    prev_out = rev[0]
    for i, kind in enumerate(c["up_block_types"]):
        out_ch = rev[i]
        in_ch = rev[min(i + 1, len(boc) - 1)]
        for j in range(lpb + 1):
            skip = in_ch if j == lpb else out_ch
            res_in = prev_out if j == 0 else out_ch
            resnet(f"up_blocks.{i}.resnets.{j}", res_in + skip, out_ch)
            if kind.startswith("CrossAttn"):
                transformer(f"up_blocks.{i}.attentions.{j}", out_ch)
        if i < len(boc) - 1:
            conv(f"up_blocks.{i}.upsamplers.0.conv", out_ch, out_ch, 3)
        prev_out = out_ch

    norm("conv_norm_out", boc[0])
    conv("conv_out", c.get("out_channels", 4), boc[0], 3)
    return keys


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(unet_keys(json.load(f))))
