// Eigendecomposition of a real symmetric matrix in float64 (cyclic Jacobi rotations), for the
// FID's matrix square roots: sqrt(S) = V diag(sqrt(max(lambda, 0))) V^T. Jacobi is slower than
// Householder + QL but simple and accurate to a few ulps of the largest eigenvalue, including for
// rank-deficient covariance matrices (eigenvalues near 0 stay near 0).
#pragma once
#include <cstdint>

namespace cxrl {

// a: n x n row-major, symmetric (only its values are read; it is overwritten). values[n] ascending;
// vectors: n x n row-major with eigenvector k in column k. Returns the sweeps used.
int symmetric_eigen(double* a, int64_t n, double* values, double* vectors);

}  // namespace cxrl
