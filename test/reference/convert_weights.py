"""Writes fp16 and bf16 copies of a float32 safetensors file, and float32 files holding the same
rounded values, with numpy only (round-to-nearest-even for both). Arguments: IN.safetensors OUTDIR."""
import sys

import numpy as np

import safetensors_np as st


def to_bf16_bits(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest, ties to even
    return rounded.astype(np.uint16)


src, out = sys.argv[1], sys.argv[2]
w, _ = st.read(src)
st.write(f"{out}/w_f16.safetensors", w, dtype="F16")
st.write(f"{out}/w_f16_as_f32.safetensors", {k: v.astype(np.float16).astype(np.float32) for k, v in w.items()})
st.write_bf16(f"{out}/w_bf16.safetensors", {k: to_bf16_bits(v) for k, v in w.items()})
st.write(
    f"{out}/w_bf16_as_f32.safetensors",
    {k: (to_bf16_bits(v).astype(np.uint32) << 16).view(np.float32) for k, v in w.items()},
)
