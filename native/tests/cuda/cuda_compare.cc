#include "tests/cuda/cuda_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/backend.h"
#include "tests/harness.h"

namespace cxrl::test {

bool emulated_gpu() { return device_status(Device::kCuda).device_name.rfind("emulated", 0) == 0; }

DeviceArray<float> on_device(const Tensor& t) {
  DeviceArray<float> d(t.v.size());
  copy_to_device(d.data(), t.v.data(), t.v.size() * sizeof(float));
  return d;
}

Tensor from_device(const DeviceArray<float>& d, const Shape& shape) {
  Tensor t(shape);
  if ((size_t)t.numel() != d.size()) fail("from_device: shape " + shape_str(shape) + " does not match the array");
  copy_to_host(t.v.data(), d.data(), d.size() * sizeof(float));
  return t;
}

double expect_close(const std::string& label, const Tensor& got, const Tensor& ref, double tol) {
  const double rel = got.numel() == ref.numel() ? max_rel_error(got.data(), ref.data(), ref.numel()) : INFINITY;
  std::printf("    %-60s max rel err %.2e\n", label.c_str(), rel);
  if (!(rel < tol)) fail(label + ": CUDA differs from the CPU twin by " + std::to_string(rel));
  return rel;
}

void gemm_float64(bool ta, bool tb, int M, int N, int K, double alpha, const float* A, const float* B, double beta,
                  const float* C0, float* out) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k)
        s += (double)A[ta ? (int64_t)k * M + m : (int64_t)m * K + k] * B[tb ? (int64_t)n * K + k : (int64_t)k * N + n];
      const int64_t at = (int64_t)m * N + n;
      out[at] = (float)(alpha * s + (beta != 0 ? beta * C0[at] : 0.0));
    }
}

double expect_params_close(const std::string& label, ParamStore& got, ParamStore& ref, ParamPart part, double tol,
                           ParamScale scale) {
  struct Pair {
    std::string name;
    Tensor have, want;
  };
  std::vector<Pair> pairs;
  double global = 0;
  for (const auto& p : ref.all()) {
    if (!p->trainable) continue;
    const Tensor& want = part == ParamPart::kGrad ? p->grad : p->value;
    Param* q = got.find(p->name);
    pairs.push_back({p->name, (part == ParamPart::kGrad ? q->grad : q->value).to(Device::kCpu), want});
    for (float v : want.v) global = std::max(global, (double)std::abs(v));
  }
  double worst = 0;
  std::string worst_name;
  for (const Pair& p : pairs) {
    // Infinite for a size mismatch or a non-finite value, as max_rel_error.
    double e = p.have.numel() == p.want.numel() ? 0 : INFINITY, diff = 0, own = 0;
    for (int64_t i = 0; std::isfinite(e) && i < p.want.numel(); ++i) {
      if (!std::isfinite(p.have.v[i])) e = INFINITY;
      diff = std::max(diff, (double)std::fabs(p.have.v[i] - p.want.v[i]));
      own = std::max(own, (double)std::fabs(p.want.v[i]));
    }
    if (std::isfinite(e)) {
      const double s = scale == ParamScale::kPerTensor ? own
                       : scale == ParamScale::kGlobal  ? global
                                                       : std::max(own, kParamScaleFloor * global);
      e = diff / std::max(s, 1e-30);
    }
    if (!(e <= worst)) worst = e, worst_name = p.name;
  }
  std::printf("    %-60s max rel err %.2e (%zu tensors%s; worst %s)\n", label.c_str(), worst, pairs.size(),
              scale == ParamScale::kGlobal    ? ", relative to the largest of any"
              : scale == ParamScale::kFloored ? ", each at least 1% of the largest of any"
                                              : "",
              worst_name.c_str());
  if (!(worst < tol)) fail(label + ": " + worst_name + " differs from the CPU twin by " + std::to_string(worst));
  return worst;
}

}  // namespace cxrl::test
