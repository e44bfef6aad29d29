#include "eval/symmetric_eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace cxrl {

namespace {

double off_diagonal_norm2(const double* a, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) s += a[i * n + j] * a[i * n + j];
  return s;
}

}  // namespace

int symmetric_eigen(double* a, int64_t n, double* values, double* vectors) {
  if (n < 1) throw std::invalid_argument("symmetric_eigen: empty matrix");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (!std::isfinite(a[i * n + j]))
        throw std::invalid_argument("symmetric_eigen: the matrix has non-finite entries");
      vectors[i * n + j] = i == j ? 1.0 : 0.0;
    }
  // Symmetrise (the average of a and a^T) so rounding asymmetry in the input does not matter.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
  double diag2 = 0;
  for (int64_t i = 0; i < n; ++i) diag2 += a[i * n + i] * a[i * n + i];
  const double total2 = diag2 + 2 * off_diagonal_norm2(a, n);
  int sweep = 0;
  for (; sweep < 100; ++sweep) {
    if (off_diagonal_norm2(a, n) <= 1e-30 * total2 || total2 == 0) break;
    for (int64_t p = 0; p < n - 1; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        // The rotation angle that zeroes a[p][q] (Rutishauser's stable form):
        // theta = (a_qq - a_pp) / (2 a_pq), t = sign(theta) / (|theta| + sqrt(theta^2 + 1)).
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q: A <- A J
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q: A <- J^T A
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        for (int64_t k = 0; k < n; ++k) {  // V <- V J
          const double vkp = vectors[k * n + p], vkq = vectors[k * n + q];
          vectors[k * n + p] = c * vkp - s * vkq;
          vectors[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Sort ascending, permuting the eigenvector columns with the values.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[x * n + x] < a[y * n + y]; });
  std::vector<double> v(vectors, vectors + n * n);
  for (int64_t k = 0; k < n; ++k) {
    values[k] = a[order[k] * n + order[k]];
    for (int64_t i = 0; i < n; ++i) vectors[i * n + k] = v[i * n + order[k]];
  }
  return sweep;
}

}  // namespace cxrl
