// The forward (noising) process and reproducible Gaussian noise:
//   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (per-sample abar_t)
// Noise comes from Philox: sample b of a draw uses stream stream_offset + b, so the initial x_T of
// a sampling run, the training noise of a batch and the step noise never overlap when their
// stream ranges differ.
#pragma once
#include <cstdint>
#include <vector>

namespace cxrl {

void gaussian_noise(uint64_t seed, uint64_t stream_offset, int64_t batch, int64_t per_sample, float* out);

void add_noise(const float* x0, const float* noise, const std::vector<double>& alpha_bar, int64_t batch,
               int64_t per_sample, float* out);

}  // namespace cxrl
