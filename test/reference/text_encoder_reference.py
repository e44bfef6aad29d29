"""Independent PyTorch reference of the built-in text encoder (pre-LN transformer with padding
masks), written for this repo's tests. Autograd gives every parameter gradient.

usage: text_encoder_reference.py CONFIG.json WEIGHTS.safetensors INPUT.safetensors OUT.safetensors
INPUT holds ids (float-coded integers) [B, L], mask [B, L] and grad_output [B, L, D]."""
import json
import math
import sys

import torch
import torch.nn.functional as F

import safetensors_np as st


def forward(cfg, W, ids, mask):
    D, H = cfg["width"], cfg["heads"]
    B, L = ids.shape
    ln = lambda x, n: F.layer_norm(x, (D,), W[n + ".weight"], W[n + ".bias"], 1e-5)
    x = W["token_embedding.weight"][ids] + W["position_embedding.weight"][:L][None]
    for i in range(cfg["layers"]):
        p = f"layers.{i}"
        h = ln(x, p + ".norm1")
        q = (h @ W[p + ".attn.to_q.weight"].T).reshape(B, L, H, D // H).transpose(1, 2)
        k = (h @ W[p + ".attn.to_k.weight"].T).reshape(B, L, H, D // H).transpose(1, 2)
        v = (h @ W[p + ".attn.to_v.weight"].T).reshape(B, L, H, D // H).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D // H)
        s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = x + F.linear(o, W[p + ".attn.to_out.0.weight"], W[p + ".attn.to_out.0.bias"])
        h = ln(x, p + ".norm2")
        h = F.linear(F.gelu(F.linear(h, W[p + ".mlp.fc1.weight"], W[p + ".mlp.fc1.bias"])), W[p + ".mlp.fc2.weight"], W[p + ".mlp.fc2.bias"])
        x = x + h
    return ln(x, "final_norm")


def main(argv):
    cfg = json.load(open(argv[0]))
    raw, _ = st.read(argv[1])
    W = {k: torch.tensor(v, requires_grad=True) for k, v in raw.items()}
    inp, _ = st.read(argv[2])
    ids = torch.tensor(inp["ids"]).long()
    mask = torch.tensor(inp["mask"])
    out = forward(cfg, W, ids, mask)
    out.backward(torch.tensor(inp["grad_output"]))
    result = {"output": out.detach().numpy()}
    for k, v in W.items():
        result["grad." + k] = v.grad.numpy()
    st.write(argv[3], result)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1:])
