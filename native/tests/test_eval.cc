// Evaluation numerics: the Jacobi eigensolver behind the FID on random symmetric matrices, full-rank
// and rank-deficient: A V = V diag(lambda), V orthonormal, eigenvalues ascending.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "eval/symmetric_eigen.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(symmetric_eigen_reconstructs_random_matrices) {
  for (int64_t n : {1, 2, 7, 40}) {
    for (int rank : {0, 3}) {  // 0: full rank (A = B + B^T); 3: A = F F^T with F n x 3 (PSD, rank <= 3)
      std::normal_distribution<double> nd;
      std::vector<double> a(n * n);
      if (rank == 0) {
        std::vector<double> b(n * n);
        for (auto& v : b) v = nd(rng());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) a[i * n + j] = b[i * n + j] + b[j * n + i];
      } else {
        std::vector<double> f(n * rank);
        for (auto& v : f) v = nd(rng());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j)
            for (int r = 0; r < rank; ++r) a[i * n + j] += f[i * rank + r] * f[j * rank + r];
      }
      std::vector<double> work = a, values(n), vectors(n * n);
      const int sweeps = symmetric_eigen(work.data(), n, values.data(), vectors.data());
      double scale = 0, resid = 0, ortho = 0;
      for (double v : a) scale = std::max(scale, std::fabs(v));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < n; ++k) {
          double av = 0, vv = 0;
          for (int64_t j = 0; j < n; ++j) {
            av += a[i * n + j] * vectors[j * n + k];
            vv += vectors[j * n + i] * vectors[j * n + k];
          }
          resid = std::max(resid, std::fabs(av - values[k] * vectors[i * n + k]));
          ortho = std::max(ortho, std::fabs(vv - (i == k ? 1.0 : 0.0)));
        }
      bool ascending = std::is_sorted(values.begin(), values.end());
      double smallest = values.empty() ? 0 : values[0];
      std::printf("    n %-3lld %-9s sweeps %-2d |AV - V diag(l)| / max|A| %.2e, |V^T V - I| %.2e, smallest %.2e\n",
                  (long long)n, rank ? "rank <= 3" : "full", sweeps, resid / std::max(scale, 1e-300), ortho, smallest);
      CHECK(resid <= 1e-12 * std::max(scale, 1.0), "eigen-decomposition does not reconstruct A");
      CHECK(ortho <= 1e-12, "eigenvectors are not orthonormal");
      CHECK(ascending, "eigenvalues not ascending");
      if (rank && n > rank)
        CHECK(std::fabs(smallest) <= 1e-12 * scale, "a rank-deficient PSD matrix lost its zero eigenvalues");
    }
  }
}
