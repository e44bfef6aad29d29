#include "ops/activation.h"

#include <cmath>

#include "core/parallel.h"
#include "core/vec_math.h"

namespace cxrl {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

inline float gelu(float x) { return 0.5f * x * (1.f + std::erf(x * kInvSqrt2)); }
inline float gelu_grad(float x) {
  return 0.5f * (1.f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
}

template <typename F>
Tensor map_pointwise(const Tensor& x, F f) {
  Tensor y(x.shape);
  parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y.v[i] = f(i);
  });
  return y;
}

}  // namespace

Tensor silu_forward(const Tensor& x) {
  Tensor y = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) { silu_rows(x.data() + b, y.data() + b, e - b); });
  return y;
}

Tensor silu_backward(const Tensor& x, const Tensor& gy) {
  Tensor gx = Tensor::uninitialized(x.shape);
  parallel_for(x.numel(), 4096,
               [&](int64_t b, int64_t e) { silu_backward_rows(x.data() + b, gy.data() + b, gx.data() + b, e - b); });
  return gx;
}

Tensor gelu_forward(const Tensor& x) {
  return map_pointwise(x, [&](int64_t i) { return gelu(x.v[i]); });
}

Tensor gelu_backward(const Tensor& x, const Tensor& gy) {
  return map_pointwise(x, [&](int64_t i) { return gy.v[i] * gelu_grad(x.v[i]); });
}

Tensor geglu_forward(const Tensor& x) {
  const int64_t two_i = x.dim(-1), I = two_i / 2;
  if (two_i % 2) throw std::invalid_argument("geglu: last dim must be even, got " + shape_str(x.shape));
  Shape ys = x.shape;
  ys.back() = I;
  Tensor y = Tensor::uninitialized(ys);
  parallel_for(y.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t r = k / I, j = k % I;
      y.v[k] = x.v[r * two_i + j] * gelu(x.v[r * two_i + I + j]);
    }
  });
  return y;
}

Tensor geglu_backward(const Tensor& x, const Tensor& gy) {
  const int64_t two_i = x.dim(-1), I = two_i / 2;
  Tensor gx(x.shape);
  parallel_for(gy.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t r = k / I, j = k % I;
      const float h = x.v[r * two_i + j], g = x.v[r * two_i + I + j];
      gx.v[r * two_i + j] = gy.v[k] * gelu(g);
      gx.v[r * two_i + I + j] = gy.v[k] * h * gelu_grad(g);
    }
  });
  return gx;
}

}  // namespace cxrl
