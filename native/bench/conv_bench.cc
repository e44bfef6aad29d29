#include "bench/conv_bench.h"

#include <chrono>
#include <random>

#include "ops/conv2d.h"
#include "ops/conv2d_direct.h"

namespace cxrl {

double bench_conv2d_forward(const ConvBenchConfig& c) {
  Tensor x({c.batch, c.cin, c.size, c.size}), w({c.cout, c.cin, c.k, c.k}), b({c.cout});
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  for (float& v : x.v) v = normal(gen);
  for (float& v : w.v) v = 0.1f * normal(gen);
  const Conv2dGeom g{1, c.k / 2};
  const int out = c.size + 2 * g.pad - c.k + 1;
  auto run = [&] {
    if (c.direct) {  // allocating the output each call, as conv2d_forward does
      Tensor y = Tensor::uninitialized({c.batch, c.cout, out, out});
      conv2d_direct_forward(x, w, &b, g.pad, y, direct_conv_isas().front());
    } else {
      conv2d_forward_im2col(x, w, &b, g);
    }
  };
  run();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < c.iters; ++i) run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / c.iters;
}

}  // namespace cxrl
