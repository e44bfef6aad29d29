// The whole-model device benchmarks of scripts/device-check.sh (the targets): an
// SD-v1.x-sized UNet's inference forward, its training step (forward, MSE, backward, clipped
// AdamW) and a 50-step guided DDIM sampling loop (UNet forward over [uncond; cond] and the fused
// step, resident on the device), in fp32 and bf16. scripts/device_unet_torch_bench.py runs the
// same work in PyTorch eager.
#pragma once
#include <string>

namespace cxrl {

struct UNetBenchConfig {
  std::string config_file = "test/reference/sd-v1-unet-config.json";
  int train_batch = 8, sample_batch = 4, latent = 64, context_length = 77, sample_steps = 50;
};

// One JSON object: seconds per forward, per training step and per sampling loop, for each precision,
// and the device memory peak.
std::string bench_unet_json(const UNetBenchConfig& c);

}  // namespace cxrl
