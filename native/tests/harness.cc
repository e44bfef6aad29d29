#include "tests/harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/gemm.h"
#include "core/scratch.h"

namespace cxrl::test {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && std::memcmp(a.data(), b.data(), a.v.size() * sizeof(float)) == 0;
}

double max_rel_error(const float* got, const float* ref, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff = std::max(diff, (double)std::fabs(got[i] - ref[i]));
    scale = std::max(scale, (double)std::fabs(ref[i]));
  }
  return diff / std::max(scale, 1e-30);
}

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

static int g_failures_in_case = 0;

void fail(const std::string& msg) {
  ++g_failures_in_case;
  std::printf("    FAIL: %s\n", msg.c_str());
}

std::mt19937_64& rng() {
  static std::mt19937_64 r;
  return r;
}

Tensor randn(Shape s, float scale) {
  Tensor t(std::move(s));
  std::normal_distribution<float> n(0.f, scale);
  for (float& x : t.v) x = n(rng());
  return t;
}

static double weighted_sum(const Tensor& y, const Tensor& w) {
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += (double)y.v[i] * w.v[i];
  return s;
}

// The probe loop of both difference checks: up to `probes` elements of each input (all when it has
// no more), quotient(k, i) the central difference for element i of input k, the error relative to
// the larger of |fd|, |analytic| and floor_frac times that input's largest analytic gradient.
static double probe_max_error(const std::vector<Tensor>& grads, int probes, double floor_frac,
                              const std::function<double(size_t, int64_t)>& quotient) {
  double worst = 0;
  for (size_t k = 0; k < grads.size(); ++k) {
    float gmax = 0;
    for (float g : grads[k].v) gmax = std::max(gmax, std::fabs(g));
    std::uniform_int_distribution<int64_t> pick(0, grads[k].numel() - 1);
    const int n = (int)std::min<int64_t>(probes, grads[k].numel());
    for (int p = 0; p < n; ++p) {
      const int64_t i = n == grads[k].numel() ? p : pick(rng());
      const double fd = quotient(k, i), an = grads[k].v[i];
      const double denom = std::max({std::fabs(fd), std::fabs(an), floor_frac * gmax, 1e-6});
      worst = std::max(worst, std::fabs(fd - an) / denom);
    }
  }
  return worst;
}

double fd_check(const std::string& label, std::vector<Tensor> inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd, double tol,
                float eps, int probes, double floor_frac) {
  const Tensor y = fwd(inputs);
  const Tensor w = randn(y.shape);
  const std::vector<Tensor> grads = bwd(inputs, w);
  const double worst = probe_max_error(grads, probes, floor_frac, [&](size_t k, int64_t i) {
    const float orig = inputs[k].v[i];
    inputs[k].v[i] = orig + eps;
    const double lp = weighted_sum(fwd(inputs), w);
    inputs[k].v[i] = orig - eps;
    const double lm = weighted_sum(fwd(inputs), w);
    inputs[k].v[i] = orig;
    return (lp - lm) / (2.0 * eps);
  });
  std::printf("    %-52s fd max rel err %.2e\n", label.c_str(), worst);
  if (!(worst < tol)) fail(label + ": finite-difference mismatch " + std::to_string(worst));
  return worst;
}

double fd_check_float64(const std::string& label, const std::vector<Tensor>& inputs,
                        const std::function<std::vector<double>(const Values&)>& ref,
                        const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                        const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd,
                        double tol, double h, int probes, double floor_frac, double fwd_tol) {
  Values x;
  for (const Tensor& t : inputs) x.emplace_back(t.v.begin(), t.v.end());
  const std::vector<double> y_ref = ref(x);
  const Tensor y = fwd(inputs);
  double fwd_err = 0, ref_max = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    fwd_err = std::max(fwd_err, std::fabs(y.v[i] - y_ref[i]));
    ref_max = std::max(ref_max, std::fabs(y_ref[i]));
  }
  fwd_err /= std::max(ref_max, 1e-30);
  const Tensor w = randn(y.shape);
  auto loss = [&](const Values& v) {
    const std::vector<double> out = ref(v);
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += out[i] * w.v[i];
    return s;
  };
  const std::vector<Tensor> grads = bwd(inputs, w);
  const double worst = probe_max_error(grads, probes, floor_frac, [&](size_t k, int64_t i) {
    const double orig = x[k][i];
    x[k][i] = orig + h;
    const double lp = loss(x);
    x[k][i] = orig - h;
    const double lm = loss(x);
    x[k][i] = orig;
    return (lp - lm) / (2.0 * h);
  });
  std::printf("    %-52s fd (float64 ref) max rel err %.2e; forward vs float64 %.2e\n", label.c_str(), worst, fwd_err);
  if (!(worst < tol)) fail(label + ": finite-difference mismatch " + std::to_string(worst));
  if (!(fwd_err < fwd_tol)) fail(label + ": forward differs from the float64 reference by " + std::to_string(fwd_err));
  return worst;
}

double fd_directional_check(const std::string& label, std::vector<Tensor> inputs,
                            const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                            const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd,
                            double tol, float eps) {
  const Tensor y = fwd(inputs);
  const Tensor w = randn(y.shape);
  const std::vector<Tensor> grads = bwd(inputs, w);
  // (L(x + eps r) - L(x - eps r)) / 2 eps against <grad, r>, relative to the larger of the two and `floor`.
  auto probe = [&](size_t k, const std::vector<double>& r, double floor) {
    double analytic = 0;
    for (int64_t i = 0; i < grads[k].numel(); ++i) analytic += (double)grads[k].v[i] * r[i];
    const Tensor orig = inputs[k];
    for (int64_t i = 0; i < orig.numel(); ++i) inputs[k].v[i] = (float)(orig.v[i] + eps * r[i]);
    const double lp = weighted_sum(fwd(inputs), w);
    for (int64_t i = 0; i < orig.numel(); ++i) inputs[k].v[i] = (float)(orig.v[i] - eps * r[i]);
    const double lm = weighted_sum(fwd(inputs), w);
    inputs[k] = orig;
    const double fd = (lp - lm) / (2.0 * (double)eps);
    return std::fabs(fd - analytic) / std::max({std::fabs(fd), std::fabs(analytic), floor});
  };
  double worst_grad = 0, worst_random = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const int64_t n = grads[k].numel();
    double norm = 0;
    for (float v : grads[k].v) norm += (double)v * v;
    norm = std::sqrt(norm);
    // Along the analytic gradient: the strongest signal, sees a gradient wrong in size or direction.
    if (norm > 0) {
      std::vector<double> r(n);
      for (int64_t i = 0; i < n; ++i) r[i] = grads[k].v[i] / norm;
      worst_grad = std::max(worst_grad, probe(k, r, 1e-6));
    }
    // Along a random direction, independent of the analytic gradient: sees entries the backward
    // dropped (an all-zero gradient included), which the first probe cannot.
    std::normal_distribution<double> nd;
    std::vector<double> r(n);
    double rn = 0;
    for (auto& v : r) rn += (v = nd(rng())) * v;
    for (auto& v : r) v /= std::sqrt(rn);
    worst_random = std::max(worst_random, probe(k, r, std::max(1e-4, 0.3 * norm / std::sqrt((double)n))));
  }
  // The random direction's signal is about |grad| / sqrt(n), so float32 noise is far larger there:
  // its tolerance (0.25) sees an all-zero or largely dropped gradient (error near 1), not fine errors.
  constexpr double kRandomTol = 0.25;
  std::printf("    %-52s directional fd rel err along the gradient %.2e, along a random direction %.2e\n",
              label.c_str(), worst_grad, worst_random);
  if (!(worst_grad < tol)) fail(label + ": directional finite-difference mismatch " + std::to_string(worst_grad));
  if (!(worst_random < kRandomTol))
    fail(label + ": finite-difference mismatch along a random direction " + std::to_string(worst_random));
  return std::max(worst_grad, worst_random);
}

}  // namespace cxrl::test

// Arguments: none (every test), a substring of test names, "=NAME" (that test alone), or --list
// (the names, one per line: scripts/device-check.sh runs each in its own process).
int main(int argc, char** argv) {
  using namespace cxrl::test;
  if (argc > 1 && std::strcmp(argv[1], "--list") == 0) {
    for (const auto& c : registry()) std::printf("%s\n", c.name);
    return 0;
  }
  // Line-buffered even into a file: a test killed by a timeout still leaves what it printed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  cxrl::configure_allocator();
  const char* filter = argc > 1 ? argv[1] : nullptr;
  const bool exact = filter && filter[0] == '=';
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("CXRL_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("cxrl engine tests, seed %llu (set CXRL_TEST_SEED to repeat)\n", (unsigned long long)seed);
  // Every test runs with the GEMM chosen for the run (CXRL_GEMM); a test that switches it must
  // switch it back, or it fails here.
  const std::string gemm = cxrl::gemm_backend_name();
  std::printf("gemm backend: %s\n", gemm.c_str());
  int passed = 0, failed = 0;
  for (const auto& c : registry()) {
    if (filter && (exact ? std::strcmp(c.name, filter + 1) != 0 : !std::strstr(c.name, filter))) continue;
    rng().seed(seed ^ std::hash<std::string>{}(c.name));
    g_failures_in_case = 0;
    std::printf("[ RUN  ] %s\n", c.name);
    std::fflush(stdout);
    try {
      c.fn();
    } catch (const std::exception& e) {
      fail(std::string("exception: ") + e.what());
    }
    if (cxrl::gemm_backend_name() != gemm) {
      fail("left the GEMM backend at " + cxrl::gemm_backend_name() + " (the run uses " + gemm + ")");
      cxrl::set_gemm_backend(gemm == "openblas" ? cxrl::GemmBackend::kOpenBlas : cxrl::GemmBackend::kBuiltin);
    }
    if (g_failures_in_case) {
      ++failed;
      std::printf("[ FAIL ] %s\n", c.name);
    } else {
      ++passed;
      std::printf("[  OK  ] %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
