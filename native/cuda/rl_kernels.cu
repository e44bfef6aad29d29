#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/block_reduce.cuh"
#include "cuda/ddim_step_device.cuh"
#include "cuda/launch.cuh"
#include "cuda/rl_cuda.h"
#include "rl/ddim_step_math.h"
#include "rl/ppo_math.h"

namespace cxrl {

// One block per (sample, chunk of s.chunk elements): each thread walks the chunk with a block
// stride, then the block sums its squared residuals in double. Chunk sums are combined in order
// by finish_log_prob, so the result does not depend on scheduling.
__device__ inline void load_group(const float* p, long long k0, int n, bool vec, float* out) {
  if (vec) {
    const float4 v = *reinterpret_cast<const float4*>(p + k0);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = i < n ? p[k0 + i] : 0.f;
  }
}

__device__ inline void store_group(float* p, long long k0, int n, bool vec, const float* v) {
  if (vec)
    *reinterpret_cast<float4*>(p + k0) = make_float4(v[0], v[1], v[2], v[3]);
  else
#pragma unroll
    for (int i = 0; i < 4; ++i)
      if (i < n) p[k0 + i] = v[i];
}

__global__ void finish_log_prob(const double* partial, const StepCoefficients* coef, long long B, long long chunks,
                                long long N, double* lp) {
  const long long b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  double sq = 0;
  for (long long c = 0; c < chunks; ++c) sq += partial[b * chunks + c];
  const double s = coef[b].std;
  lp[b] = s > 0 ? -sq / (2 * s * s * N) - log(s) - kHalfLog2Pi : 0.0;
}

// Specialised on the noise source and on guidance (compile-time constants: the unused inputs and
// branches are compiled out, which keeps the live registers down).
template <NoiseSource kSource, bool kGuided, int kBlocksPerSm>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    ddim_step_kernel(DeviceStep s, float* prev_out, double* partial) {
  const long long b = blockIdx.x / s.chunks, chunk = blockIdx.x % s.chunks;
  const long long i0 = chunk * s.chunk, i1 = min(s.N, i0 + s.chunk);
  const StepCoefficients c = s.coef[b];
  double acc = 0;
  // Each thread takes groups of 4 consecutive elements (one Philox block of noise), with 16-byte
  // loads and stores where the group is whole and aligned.
  for (long long g = i0 + 4 * threadIdx.x; g < i1; g += 4 * blockDim.x) {
    const long long k0 = b * s.N + g;
    const int n = (int)min(4LL, i1 - g);
    const bool vec = n == 4 && k0 % 4 == 0;
    float x[4], m[4], u[4], z[4], prev[4];
    load_group(s.x, k0, n, vec, x);
    load_group(s.m, k0, n, vec, m);
    if (kGuided) load_group(s.mu_in, k0, n, vec, u);
    if (kSource == NoiseSource::kGivenPrevSample) load_group(s.prev_in, k0, n, vec, z);
    if (kSource == NoiseSource::kGivenNoise) load_group(s.noise, k0, n, vec, z);
    if (kSource == NoiseSource::kSeeded) philox_normal4(s.seed, s.stream_offset + b, (unsigned long long)g >> 2, z);
      // Constant trip count (the arrays stay in registers); the tail group skips i >= n.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (i >= n) break;
      const double mu =
          ddim_element(x[i], combined_output(m, kGuided ? u : nullptr, s.w, i), c, s.kind, s.clip, s.r, s.use_clipped)
              .mu;
      prev[i] = kSource == NoiseSource::kGivenPrevSample ? z[i] : (float)(mu + c.std * z[i]);
      const double d = (double)prev[i] - mu;
      acc += d * d;
    }
    if (prev_out) store_group(prev_out, k0, n, vec, prev);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <NoiseSource kSource, int kBlocksPerSm>
void launch_step_variant(const DeviceStep& s, long long batch, float* prev_out, double* partial) {
  auto* kernel =
      s.mu_in ? ddim_step_kernel<kSource, true, kBlocksPerSm> : ddim_step_kernel<kSource, false, kBlocksPerSm>;
  CXRL_LAUNCH(kernel, (unsigned)(batch * s.chunks), kThreads, 0)(s, prev_out, partial);
}

template <int kBlocksPerSm>
void launch_step_kernel(const DeviceStep& s, long long batch, float* prev_out, double* partial) {
  switch ((NoiseSource)s.source) {
    case NoiseSource::kSeeded:
      return launch_step_variant<NoiseSource::kSeeded, kBlocksPerSm>(s, batch, prev_out, partial);
    case NoiseSource::kGivenNoise:
      return launch_step_variant<NoiseSource::kGivenNoise, kBlocksPerSm>(s, batch, prev_out, partial);
    case NoiseSource::kGivenPrevSample:
      return launch_step_variant<NoiseSource::kGivenPrevSample, kBlocksPerSm>(s, batch, prev_out, partial);
  }
  throw std::invalid_argument("ddim step: unknown noise source");
}

void launch_ddim_step(const DeviceStep& s, long long batch, float* prev_out, double* partial, double* lp,
                      int blocks_per_sm) {
  if (blocks_per_sm == 3)
    launch_step_kernel<3>(s, batch, prev_out, partial);
  else if (blocks_per_sm == 4)
    launch_step_kernel<4>(s, batch, prev_out, partial);
  else
    throw std::invalid_argument("ddim step: blocks per SM must be 3 or 4");
  CXRL_LAUNCH(finish_log_prob, (unsigned)((batch + 127) / 128), 128, 0)(partial, s.coef, batch, s.chunks, s.N, lp);
  check(cudaGetLastError(), "ddim step launch");
}

namespace {

__global__ void ddim_step_backward_kernel(DeviceStep s, long long total, const double* grad_lp, float* g_m,
                                          float* g_u) {
  for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
       k += (long long)gridDim.x * blockDim.x) {
    const long long b = k / s.N;
    const StepCoefficients c = s.coef[b];
    double g = 0;
    if (c.std > 0) {
      const double m = combined_output(s.m, s.mu_in, s.w, k);
      const ElementTerms t = ddim_element(s.x[k], m, c, s.kind, s.clip, s.r, s.use_clipped);
      g = grad_lp[b] * ((double)s.prev_in[k] - t.mu) / (c.std * c.std * s.N) * t.dmu_dm;
    }
    if (g_u) {
      g_m[k] = (float)(s.w * g);
      g_u[k] = (float)((1.0 - s.w) * g);
    } else {
      g_m[k] = (float)g;
    }
  }
}

__global__ void ppo_kernel(const double* lp, const double* old_lp, const double* adv, long long B, double clip,
                           double adv_max, double* grad, double* sums) {
  // One block: per-sample terms, then a fixed-order reduction in thread 0 (B is small).
  __shared__ double terms[3][1024];
  for (long long b = threadIdx.x; b < B; b += blockDim.x) {
    const PpoTerms t = ppo_terms(lp[b], old_lp[b], adv[b], clip, adv_max);
    grad[b] = t.grad / B;
    if (b < 1024) {
      terms[0][b] = t.loss;
      terms[1][b] = t.kl;
      terms[2][b] = t.clipped;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0, k = 0, c = 0;
    for (long long b = 0; b < B; ++b) {
      l += terms[0][b];
      k += terms[1][b];
      c += terms[2][b];
    }
    sums[0] = l / B;
    sums[1] = k / B;
    sums[2] = c / B;
  }
}

// The step's inputs on the device: uploaded from host pointers, or (resident) used where they are.
DeviceStep device_step(const DdimStepArgs& a, DeviceBuffers& buf, const std::vector<StepCoefficients>& coef,
                       bool resident) {
  const size_t n = (size_t)(a.batch * a.per_sample);
  auto place = [&](const float* p) { return resident ? p : buf.upload(p, n); };
  DeviceStep s{};
  s.x = place(a.sample);
  s.m = place(a.model_output);
  s.mu_in = place(a.model_output_uncond);
  s.noise = a.noise_source == NoiseSource::kGivenNoise ? place(a.noise) : nullptr;
  s.prev_in = a.noise_source == NoiseSource::kGivenPrevSample ? place(a.prev_sample_in) : nullptr;
  s.w = a.guidance_scale;
  s.coef = buf.upload(coef.data(), coef.size());
  s.kind = a.prediction;
  s.clip = a.clip_sample;
  s.use_clipped = a.use_clipped_model_output;
  s.r = a.clip_range;
  s.source = (int)a.noise_source;
  s.seed = a.seed;
  s.stream_offset = a.stream_offset;
  s.N = a.per_sample;
  set_device_step_chunks(s);
  return s;
}

// x_prev into d_prev (a device pointer, or null to skip it), log-probs to lp_out on the host.
void run_step(const DdimStepArgs& a, bool resident, float* d_prev, double* lp_out) {
  require_device();
  const std::vector<StepCoefficients> coef = step_coefficients(a);
  DeviceBuffers buf;
  DeviceStep s = device_step(a, buf, coef, resident);
  if (!d_prev) d_prev = buf.alloc<float>((size_t)(a.batch * a.per_sample));
  double* d_partial = buf.alloc<double>(a.batch * s.chunks);
  double* d_lp = buf.alloc<double>(a.batch);
  launch_ddim_step(s, a.batch, d_prev, d_partial, d_lp);
  check(cudaMemcpy(lp_out, d_lp, a.batch * sizeof(double), cudaMemcpyDeviceToHost), "download");
}

// Gradients into d_gm, d_gu (device pointers; d_gu null without guidance); grad_lp on the host.
void run_step_backward(const DdimStepArgs& a, bool resident, const double* grad_lp, float* d_gm, float* d_gu) {
  require_device();
  if (a.noise_source != NoiseSource::kGivenPrevSample)
    throw std::invalid_argument("ddim step backward: needs prev_sample");
  const std::vector<StepCoefficients> coef = step_coefficients(a);
  DeviceBuffers buf;
  DeviceStep s = device_step(a, buf, coef, resident);
  const long long n = a.batch * a.per_sample;
  const double* d_g = buf.upload(grad_lp, a.batch);
  const int blocks = (int)std::min<long long>((n + kThreads - 1) / kThreads, 65535);
  CXRL_LAUNCH(ddim_step_backward_kernel, blocks, kThreads, 0)(s, n, d_g, d_gm, d_gu);
  check(cudaGetLastError(), "ddim_step_backward_kernel launch");
}

}  // namespace

void ddim_step_cuda_host(const DdimStepArgs& a, float* prev_out, double* lp_out) {
  const size_t n = (size_t)(a.batch * a.per_sample);
  DeviceArray<float> d_prev(prev_out ? n : 0);
  run_step(a, false, d_prev.data(), lp_out);
  if (prev_out) check(cudaMemcpy(prev_out, d_prev.data(), n * sizeof(float), cudaMemcpyDeviceToHost), "download");
}

void ddim_step_backward_cuda_host(const DdimStepArgs& a, const double* grad_lp, float* g_m, float* g_u) {
  const size_t n = (size_t)(a.batch * a.per_sample);
  DeviceArray<float> d_gm(n), d_gu(g_u ? n : 0);
  run_step_backward(a, false, grad_lp, d_gm.data(), d_gu.data());
  check(cudaMemcpy(g_m, d_gm.data(), n * sizeof(float), cudaMemcpyDeviceToHost), "download");
  if (g_u) check(cudaMemcpy(g_u, d_gu.data(), n * sizeof(float), cudaMemcpyDeviceToHost), "download");
}

void ddim_step_cuda_resident(const DdimStepArgs& a, float* prev_out, double* lp_out) {
  run_step(a, true, prev_out, lp_out);
}

void ddim_step_backward_cuda_resident(const DdimStepArgs& a, const double* grad_lp, float* g_m, float* g_u) {
  run_step_backward(a, true, grad_lp, g_m, g_u);
}

PpoStats ppo_loss_cuda_host(const PpoArgs& a, double* grad) {
  require_device();
  if (a.batch <= 0 || a.batch > 1024) throw std::invalid_argument("ppo (CUDA): batch must be in [1, 1024]");
  DeviceBuffers buf;
  const double* lp = buf.upload(a.log_prob, a.batch);
  const double* old_lp = buf.upload(a.old_log_prob, a.batch);
  const double* adv = buf.upload(a.advantages, a.batch);
  double* d_grad = buf.alloc<double>(a.batch);
  double* d_sums = buf.alloc<double>(3);
  CXRL_LAUNCH(ppo_kernel, 1, 256, 0)(lp, old_lp, adv, a.batch, a.clip_range, a.adv_clip_max, d_grad, d_sums);
  check(cudaGetLastError(), "ppo_kernel launch");
  double sums[3];
  check(cudaMemcpy(sums, d_sums, sizeof sums, cudaMemcpyDeviceToHost), "download");
  if (grad) check(cudaMemcpy(grad, d_grad, a.batch * sizeof(double), cudaMemcpyDeviceToHost), "download");
  return {sums[0], sums[1], sums[2]};
}

}  // namespace cxrl
