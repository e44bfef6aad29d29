// A tiny test harness: TEST(name) registers a function; CHECK records failures; main() runs all
// (optionally filtered by a substring) and prints "N passed, N failed".
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cxrl::test {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
struct Registrar {
  Registrar(const char* n, std::function<void()> f) { registry().push_back({n, std::move(f)}); }
};
void fail(const std::string& msg);

#define TEST(name)                                        \
  static void name();                                     \
  static ::cxrl::test::Registrar reg_##name(#name, name); \
  static void name()

#define CHECK(cond, msg)                                                \
  do {                                                                  \
    if (!(cond)) ::cxrl::test::fail(std::string(msg) + " [" #cond "]"); \
  } while (0)

// max |got - ref| over max |ref| (infinite when got holds a NaN or infinity).
double max_rel_error(const float* got, const float* ref, int64_t n);
inline double max_rel_error(const Tensor& got, const Tensor& ref) {
  return max_rel_error(got.v.data(), ref.v.data(), ref.numel());
}
// The same shape and the same bits in every value (NaNs and signed zeros included); CPU tensors.
bool same_bits(const Tensor& a, const Tensor& b);

// The message of the exception of type E that f throws ("" when it throws none; other exceptions
// pass through).
template <typename E>
std::string thrown_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

std::mt19937_64& rng();
Tensor randn(Shape s, float scale = 1.f);
// Uniform integer in [lo, hi], from the test's generator.
inline int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }

// Finite-difference check of an op's backward. The scalar is L = sum(w * f(inputs)) with random
// w; analytic gradients come from bwd(inputs, w). Central differences on up to `probes` random
// elements of each input. Prints and returns the max relative error (relative to the larger of
// |fd|, |analytic| and floor_frac times the input's largest analytic gradient: float32 forward
// passes make the differences noisy in absolute terms, so near-zero entries need that floor).
double fd_check(const std::string& label, std::vector<Tensor> inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd,
                double tol = 1e-2, float eps = 1e-2f, int probes = 24, double floor_frac = 1e-2);

// Input values as doubles, for the float64 reference forwards of fd_check_float64.
using Values = std::vector<std::vector<double>>;

// For ops whose float32 forward is too ill-conditioned for difference quotients (normalisations
// over small groups: the step must be small next to the group's spread, and float32 rounding then
// swamps the difference). The analytic gradients of bwd are checked, with the same error measure
// as fd_check, against central differences of an independent float64 forward `ref` (step h:
// truncation and rounding both far below the tolerance); and the engine forward `fwd` against
// `ref` (max abs error over max |ref| below fwd_tol). Prints both; returns the gradient error.
double fd_check_float64(const std::string& label, const std::vector<Tensor>& inputs,
                        const std::function<std::vector<double>(const Values&)>& ref,
                        const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                        const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd,
                        double tol = 1e-2, double h = 1e-5, int probes = 24, double floor_frac = 1e-2,
                        double fwd_tol = 1e-5);

// Directional finite-difference check for whole networks: for each input, two directions r, and
// (L(x + eps r) - L(x - eps r)) / 2 eps must equal <grad, r>. First the analytic gradient
// normalised: the difference signal is then |grad| (up to sqrt(n) times any single entry), so
// float32 round-off no longer dominates, and a gradient wrong in size or direction fails. Then a
// random unit direction, independent of the analytic gradient, with a looser tolerance (0.25; its
// signal is |grad| / sqrt(n)): a backward that returns zeros or drops much of the gradient fails
// there. Returns the max relative error.
double fd_directional_check(const std::string& label, std::vector<Tensor> inputs,
                            const std::function<Tensor(const std::vector<Tensor>&)>& fwd,
                            const std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>& bwd,
                            double tol, float eps);

}  // namespace cxrl::test
