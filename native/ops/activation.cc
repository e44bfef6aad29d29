#include "ops/activation.h"

#include <algorithm>
#include <stdexcept>

#include "core/parallel.h"
#include "core/vec_math.h"
#include "ops/device_ops.h"

namespace cxrl {

Tensor silu_forward(const Tensor& x) {
  if (x.on_device()) return device_ops("silu_forward", x).silu_forward(x);

  Tensor y = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) { silu_rows(x.data() + b, y.data() + b, e - b); });
  return y;
}

Tensor silu_backward(const Tensor& x, const Tensor& gy) {
  if (x.on_device()) return device_ops("silu_backward", x, {&gy}).silu_backward(x, gy);

  Tensor gx = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096,
               [&](int64_t b, int64_t e) { silu_backward_rows(x.data() + b, gy.data() + b, gx.data() + b, e - b); });
  return gx;
}

Tensor gelu_forward(const Tensor& x) {
  if (x.on_device()) return device_ops("gelu_forward", x).gelu_forward(x);

  Tensor y = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) { gelu_rows(x.data() + b, y.data() + b, e - b); });
  return y;
}

Tensor gelu_backward(const Tensor& x, const Tensor& gy) {
  if (x.on_device()) return device_ops("gelu_backward", x, {&gy}).gelu_backward(x, gy);

  Tensor gx = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096,
               [&](int64_t b, int64_t e) { gelu_backward_rows(x.data() + b, gy.data() + b, gx.data() + b, e - b); });
  return gx;
}

// x [..., 2I] holds h = x[..., :I] and the gate g = x[..., I:]; y [..., I] = h * gelu(g).
Tensor geglu_forward(const Tensor& x) {
  const int64_t two_i = x.dim(-1), I = two_i / 2;
  if (two_i % 2) throw std::invalid_argument("geglu: last dim must be even, got " + shape_str(x.shape));
  if (x.on_device()) return device_ops("geglu_forward", x).geglu_forward(x);
  Shape ys = x.shape;
  ys.back() = I;
  Tensor y = Tensor::uninitialized(ys);
  const int64_t rows = y.numel() / std::max<int64_t>(1, I);
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, I)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) geglu_rows(x.data() + r * two_i, x.data() + r * two_i + I, y.data() + r * I, I);
  });
  return y;
}

Tensor geglu_backward(const Tensor& x, const Tensor& gy) {
  if (x.on_device()) return device_ops("geglu_backward", x, {&gy}).geglu_backward(x, gy);

  const int64_t two_i = x.dim(-1), I = two_i / 2;
  Tensor gx = Tensor::uninitialized(x.shape);
  const int64_t rows = gy.numel() / std::max<int64_t>(1, I);
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, I)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.data() + r * two_i;
      float* gr = gx.data() + r * two_i;
      geglu_backward_rows(xr, xr + I, gy.data() + r * I, gr, gr + I, I);
    }
  });
  return gx;
}

}  // namespace cxrl
