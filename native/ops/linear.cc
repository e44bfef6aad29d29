#include "ops/linear.h"

#include "core/gemm.h"
#include "core/parallel.h"
#include "ops/device_ops.h"

namespace cxrl {

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int in = (int)w.dim(1), out = (int)w.dim(0);
  if (x.dim(-1) != in)
    throw std::invalid_argument("linear: input " + shape_str(x.shape) + " vs weight " + shape_str(w.shape));
  if (x.on_device()) return device_ops("linear_forward", x, {&w, b}).linear_forward(x, w, b);
  const int N = (int)(x.numel() / in);
  Shape ys = x.shape;
  ys.back() = out;
  Tensor y = Tensor::uninitialized(ys);  // written by the beta-0 GEMM
  sgemm(false, true, N, out, in, 1.f, x.data(), in, w.data(), in, 0.f, y.data(), out);
  if (b) {
    parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int o = 0; o < out; ++o) y.v[r * out + o] += b->v[o];
    });
  }
  return y;
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Tensor* gx, Tensor* gw, Tensor* gb) {
  if (x.on_device()) return device_ops("linear_backward", x, {&w, &gy, gw, gb}).linear_backward(x, w, gy, gx, gw, gb);

  const int in = (int)w.dim(1), out = (int)w.dim(0);
  const int N = (int)(x.numel() / in);
  if (gx) {
    *gx = Tensor(x.shape);
    sgemm(false, false, N, in, out, 1.f, gy.data(), out, w.data(), in, 0.f, gx->data(), in);
  }
  if (gw) sgemm(true, false, out, in, N, 1.f, gy.data(), out, x.data(), in, 1.f, gw->data(), in);
  if (gb) {
    const std::vector<double> s =
        parallel_reduce(N, 256, out, [&](int64_t r0, int64_t r1, std::vector<double>& partial) {
          for (int64_t r = r0; r < r1; ++r)
            for (int o = 0; o < out; ++o) partial[o] += gy.v[r * out + o];
        });
    for (int o = 0; o < out; ++o) gb->v[o] += (float)s[o];
  }
}

}  // namespace cxrl
