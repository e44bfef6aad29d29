"""Writes a small CLIP-style text encoder as ONNX (torch.onnx.export) with CLIP tokenizer files,
and the reference token ids and embeddings for given prompts.

The tokenizer here is an independent Python implementation of CLIP's byte-level BPE (GPT-2 byte
table, CLIP's split pattern, "</w>" word ends, lowest-rank merge first), with merges learned on a
small corpus, so the TypeScript tokenizer is checked against a second implementation.

usage: make_clip_onnx.py OUT_DIR MAX_LENGTH WIDTH SEED PROMPTS_JSON
writes OUT_DIR/text_encoder/model.onnx, OUT_DIR/tokenizer/{vocab.json,merges.txt,tokenizer_config.json},
OUT_DIR/reference.json {ids: [[...]], embeddings: [[...]] (flattened [L, D] per prompt)}
"""
import json
import os
import re
import sys

import torch

out, max_len, width, seed, prompts_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
prompts = json.load(open(prompts_file))
torch.manual_seed(seed)


def byte_table():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTES = byte_table()
# CLIP's pattern with \p{L} / \p{N} spelled for Python's re (letters: [^\W\d_]).
SPLIT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE)


def pieces(text):
    text = " ".join(text.split()).lower()
    return ["".join(BYTES[b] for b in m.encode("utf-8")) for m in SPLIT.findall(text)]


def learn_merges(corpus, n):
    words = {}
    for t in corpus:
        for p in pieces(t):
            w = tuple(p[:-1]) + (p[-1] + "</w>",)
            words[w] = words.get(w, 0) + 1
    merges = []
    for _ in range(n):
        counts = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        best = max(sorted(counts), key=lambda k: counts[k])
        merges.append(best)
        new = {}
        for w, c in words.items():
            out_w, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out_w.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out_w.append(w[i])
                    i += 1
            new[tuple(out_w)] = new.get(tuple(out_w), 0) + c
        words = new
    return merges


def bpe(piece, ranks):
    word = list(piece[:-1]) + [piece[-1] + "</w>"]
    while True:
        pairs = [(ranks.get((a, b), 1e18), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
        if not pairs or min(pairs)[0] == 1e18:
            return word
        r = min(pairs)[0]
        a, b = [(x, y) for (x, y) in zip(word, word[1:]) if ranks.get((x, y)) == r][0]
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged


corpus = ["the heart is enlarged", "moderate cardiomegaly", "no acute cardiopulmonary process",
          "large left pleural effusion", "small right pleural effusion", "the lungs are clear"] * 3
merges = learn_merges(corpus, 60)
chars = [BYTES[b] for b in range(256)]
vocab_list = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
vocab = {t: i for i, t in enumerate(dict.fromkeys(vocab_list))}
ranks = {m: i for i, m in enumerate(merges)}
bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]


def encode(text):
    ids = [vocab[t] for p in pieces(text) for t in bpe(p, ranks)][: max_len - 2]
    seq = [bos] + ids + [eos]
    return seq + [eos] * (max_len - len(seq))


class TinyClipText(torch.nn.Module):
    """Token + position embeddings, one pre-LN causal self-attention block with a GELU MLP, final LayerNorm."""

    def __init__(self, vocab_size, length, d, heads=4):
        super().__init__()
        self.heads = heads
        self.tok = torch.nn.Embedding(vocab_size, d)
        self.pos = torch.nn.Parameter(torch.randn(length, d) * 0.1)
        self.ln1, self.ln2, self.ln_f = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv, self.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)
        self.register_buffer("causal", torch.full((length, length), float("-inf")).triu(1))

    def forward(self, input_ids):
        B, L = input_ids.shape
        x = self.tok(input_ids) + self.pos
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        split = lambda t: t.reshape(B, L, self.heads, -1).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        att = torch.softmax(q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5) + self.causal, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, L, -1))
        x = x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))
        return self.ln_f(x)


model = TinyClipText(len(vocab), max_len, width).eval()
os.makedirs(os.path.join(out, "text_encoder"), exist_ok=True)
os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
example = torch.tensor([encode("x")], dtype=torch.int64)
torch.onnx.export(model, (example,), os.path.join(out, "text_encoder", "model.onnx"), input_names=["input_ids"],
                  output_names=["last_hidden_state"], dynamic_axes={"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}},
                  opset_version=14)
with open(os.path.join(out, "tokenizer", "vocab.json"), "w") as f:
    json.dump(vocab, f, ensure_ascii=False)
with open(os.path.join(out, "tokenizer", "merges.txt"), "w") as f:
    f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
with open(os.path.join(out, "tokenizer", "tokenizer_config.json"), "w") as f:
    json.dump({"model_max_length": max_len, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, f)
ids = [encode(p) for p in prompts]
with torch.no_grad():
    emb = model(torch.tensor(ids, dtype=torch.int64))
json.dump({"ids": ids, "embeddings": [e.flatten().tolist() for e in emb]}, open(os.path.join(out, "reference.json"), "w"))
