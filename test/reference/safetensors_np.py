"""Minimal safetensors reader/writer on numpy (no safetensors package on this machine)."""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None}


def _raw_tensors(path):
    """(name -> (dtype, shape, raw bytes)), metadata of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    raw = {
        name: (e["dtype"], e["shape"], blob[base + e["data_offsets"][0]:base + e["data_offsets"][1]])
        for name, e in header.items()
        if name != "__metadata__"
    }
    return raw, header.get("__metadata__", {})


def read(path):
    raw, meta = _raw_tensors(path)
    out = {}
    for name, (dtype, shape, data) in raw.items():
        if dtype == "BF16":
            u = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data, dtype=_DTYPES[dtype])
        out[name] = arr.reshape(shape).astype(np.float32)
    return out, meta


def _write_raw(path, entries, metadata=None):
    """entries: name -> (dtype name, contiguous numpy array holding that dtype's bytes)."""
    header, chunks, off = {}, [], 0
    for name in sorted(entries):
        dtype, a = entries[name]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        chunks.append(a.tobytes())
        off += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def write(path, tensors, dtype="F32", metadata=None):
    np_dtype = {"F32": np.float32, "F16": np.float16}[dtype]
    _write_raw(path, {k: (dtype, np.ascontiguousarray(np.asarray(v, dtype=np_dtype))) for k, v in tensors.items()}, metadata)


def read_exact(path):
    """Like read, but F64 tensors stay float64 (and F32 ones become float64 exactly)."""
    raw, meta = _raw_tensors(path)
    out = {}
    for name, (dtype, shape, data) in raw.items():
        np_dtype = {"F32": np.float32, "F64": np.float64}[dtype]
        out[name] = np.frombuffer(data, dtype=np_dtype).reshape(shape).astype(np.float64)
    return out, meta


def write_f64(path, tensors):
    _write_raw(path, {k: ("F64", np.ascontiguousarray(np.asarray(v, dtype=np.float64))) for k, v in tensors.items()})


def write_bf16(path, bits):
    """bits: name -> uint16 arrays holding bfloat16 bit patterns."""
    _write_raw(path, {k: ("BF16", np.ascontiguousarray(v, dtype=np.uint16)) for k, v in bits.items()})


def require_key_set(weights, expected):
    """Stops unless `weights` holds exactly the keys and shapes of `expected` (name -> shape list)."""
    got = {k: list(v.shape) for k, v in weights.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))[:5]
        extra = sorted(set(got) - set(expected))[:5]
        shapes = sorted(k for k in expected if k in got and got[k] != expected[k])[:5]
        raise SystemExit(f"weights are not diffusers' key set: missing {missing}, extra {extra}, shapes {shapes}")
