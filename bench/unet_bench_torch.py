"""The same UNet benchmark in PyTorch (Debian's python3-torch, CPU): the model is the functional
reference from test/reference with nn.Parameters, AdamW from torch.optim. Prints one JSON line.
usage: unet_bench_torch.py CONFIG_JSON BATCH ITERS"""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
import torch  # noqa: E402

from unet_reference import ReferenceUNet  # noqa: E402


def main():
    cfg_path, weights_path, batch, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(int(os.environ.get("CXRL_NUM_THREADS", os.cpu_count())))
    cfg = json.load(open(cfg_path))
    import safetensors_np as st
    raw, _ = st.read(weights_path)
    params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in raw.items()}
    model = ReferenceUNet(cfg, params)
    opt = torch.optim.AdamW(params.values(), lr=1e-4, weight_decay=1e-2)
    S, C, D, L = cfg["sample_size"], cfg["in_channels"], cfg["cross_attention_dim"], 16

    def inputs(b):
        return torch.randn(b, C, S, S), torch.full((b,), 500.0), torch.randn(b, L, D)

    def timeit(fn):
        fn()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        return (time.perf_counter() - t0) / iters

    one, many = inputs(1), inputs(batch)
    with torch.no_grad():
        fwd1 = timeit(lambda: model.forward(*one, None))
        fwdb = timeit(lambda: model.forward(*many, None)) / batch

    def train():
        opt.zero_grad()
        y = model.forward(*many, None)
        y.backward(y.detach())
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()

    tr = timeit(train)
    print(json.dumps({
        "engine": f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)", "preset": os.path.basename(cfg_path),
        "batch": batch, "params": sum(p.numel() for p in params.values()),
        "forward_ms_per_image_b1": fwd1 * 1e3, "forward_ms_per_image_batched": fwdb * 1e3, "train_step_ms": tr * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
