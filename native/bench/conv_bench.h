// Benchmark of one convolution layer's forward (bench/conv-bench.ts): the direct kernel that
// conv2d_forward uses for stride 1 against the im2col + GEMM path on the same random tensors.
#pragma once

namespace cxrl {

struct ConvBenchConfig {
  int batch = 8, cin = 32, cout = 32, size = 64, k = 3;
  bool direct = true;
  int iters = 5;
};

// Seconds per forward call (the mean over iters, after one untimed call).
double bench_conv2d_forward(const ConvBenchConfig& c);

}  // namespace cxrl
