// Device benchmarks for scripts/device-check.sh, printed as one JSON object: the fused DDIM step's
// bandwidth against a device-to-device copy of the same bytes, fp32 GEMM (built-in kernel and
// cuBLAS), the norm, convolution and attention kernels (timed with CUDA events after a warm-up),
// and the SD-v1.x UNet's forward, training step and sampling loop (unet_bench.h).
#include <cuda_runtime.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/cuda/unet_bench.h"
#include "bench/ddim_step_bench.h"
#include "bench/device_timing.h"
#include "core/precision.h"
#include "cuda/check.h"
#include "cuda/ddim_step_device.cuh"
#include "cuda/device_memory.h"
#include "cuda/gemm.h"
#include "cuda/ops.h"

using namespace cxrl;

static std::string step_json(const char* name, int64_t batch, int64_t per_sample, int64_t chunk = 0,
                             int blocks_per_sm = kStepBlocksPerSm) {
  StepBenchConfig c;
  c.batch = batch;
  c.per_sample = per_sample;
  c.iters = 50;
  c.device_chunk = chunk;
  c.device_blocks_per_sm = blocks_per_sm;
  const StepTiming t = bench_ddim_step_cuda(c);
  const double fused = t.bytes_moved / t.fused_seconds / 1e9, copy = t.bytes_moved / t.copy_seconds / 1e9;
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "{\"name\": \"%s\", \"chunk\": %lld, \"blocks_per_sm\": %d, \"batch\": %lld, \"per_sample\": %lld, "
      "\"bytes\": %.0f, \"fused_us\": %.2f, \"fused_GBps\": %.1f, \"copy_GBps\": %.1f, \"fraction_of_copy\": %.3f}",
      name, (long long)chunk, blocks_per_sm, (long long)batch, (long long)per_sample, t.bytes_moved,
      t.fused_seconds * 1e6, fused, copy, fused / copy);
  return buf;
}

static std::string gemm_json(int M, int N, int K) {
  DeviceArray<float> A((size_t)M * K), B((size_t)K * N), C((size_t)M * N);
  check(cudaMemset(A.data(), 0, A.size() * 4), "memset");
  check(cudaMemset(B.data(), 0, B.size() * 4), "memset");
  std::string out = "{\"M\": " + std::to_string(M) + ", \"N\": " + std::to_string(N) + ", \"K\": " + std::to_string(K);
  const CudaGemmBackend saved = cuda_gemm_backend();
  for (CudaGemmBackend b : {CudaGemmBackend::kBuiltin, CudaGemmBackend::kCublas}) {
    if (b == CudaGemmBackend::kCublas && !cublas_available()) continue;
    set_cuda_gemm_backend(b);
    const double s = device_seconds_per_call(
        [&] { sgemm_device(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N); }, 10);
    char buf[96];
    std::snprintf(buf, sizeof buf, ", \"%s_TFLOPs\": %.2f", cuda_gemm_backend_name().c_str(),
                  2.0 * M * N * K / s / 1e12);
    out += buf;
  }
  set_cuda_gemm_backend(saved);
  return out + "}";
}

static std::string norm_json(int64_t B, int64_t C, int64_t S, int64_t G) {
  const size_t n = (size_t)(B * C * S);
  DeviceArray<float> x(n), y(n), gamma(C), beta(C), mean(B * G), rstd(B * G);
  check(cudaMemset(x.data(), 0, n * 4), "memset");
  check(cudaMemset(gamma.data(), 0, C * 4), "memset");
  check(cudaMemset(beta.data(), 0, C * 4), "memset");
  const NormShape s{B, C, S, G};
  const double t = device_seconds_per_call(
      [&] {
        norm_forward_device(s, x.data(), gamma.data(), beta.data(), 1e-5f, y.data(), mean.data(), rstd.data(), true);
      },
      20);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"B\": %lld, \"C\": %lld, \"S\": %lld, \"G\": %lld, \"silu\": true, \"us\": %.2f, "
                "\"GBps_read_plus_write\": %.1f}",
                (long long)B, (long long)C, (long long)S, (long long)G, t * 1e6, 2.0 * n * 4 / t / 1e9);
  return buf;
}

// The UNet's 3x3 convolution: forward, and the backward (dx, dw, db); fp32, or bf16 compute (bf16
// column buffers and operands). At SD-v1's first level (320 channels, 64x64 latents) and its
// deepest (1280 channels, 8x8), where each image has 64 positions against a 1280 x 11520 gw.
static std::string conv_json(int B, int C, int HW, ComputePrecision precision) {
  const ComputePrecision saved = compute_precision();
  set_compute_precision(precision);
  ConvShape s;
  s.B = B, s.Cin = C, s.H = HW, s.W = HW, s.Cout = C, s.k = 3, s.stride = 1, s.pad = 1;
  const size_t nx = (size_t)B * C * HW * HW, nw = (size_t)C * C * 9;
  DeviceArray<float> x(nx), w(nw), b(C), y(nx), gx(nx), gw(nw), gb(C);
  for (auto* a : {&x, &w, &b, &gw, &gb}) check(cudaMemset(a->data(), 0, a->size() * 4), "memset");
  const double fwd =
      device_seconds_per_call([&] { conv2d_forward_device(s, x.data(), w.data(), b.data(), y.data()); }, 5);
  const double bwd = device_seconds_per_call(
      [&] { conv2d_backward_device(s, x.data(), w.data(), y.data(), gx.data(), gw.data(), gb.data()); }, 5);
  set_compute_precision(saved);
  const double flops = 2.0 * B * C * C * 9 * HW * HW;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"precision\": \"%s\", \"B\": %d, \"C\": %d, \"HW\": %d, \"k\": 3, \"forward_ms\": %.3f, "
                "\"forward_TFLOPs\": %.2f, \"backward_ms\": %.3f, \"backward_TFLOPs\": %.2f}",
                precision_name(precision), B, C, HW, fwd * 1e3, flops / fwd / 1e12, bwd * 1e3, 2 * flops / bwd / 1e12);
  return buf;
}

// Self-attention over 64x64 latent tokens at SD-v1's first level (8 heads of 40): the fp32 flash
// kernels, or under bf16 the tensor-core ones.
static std::string attention_json(int B, int H, int d, int L, ComputePrecision precision) {
  const ComputePrecision saved = compute_precision();
  set_compute_precision(precision);
  const AttentionShape s{B, H, d, L, L};
  const size_t n = (size_t)B * L * H * d;
  DeviceArray<float> q(n), k(n), v(n), out(n), lse((size_t)B * H * L), gq(n), gk(n), gv(n);
  for (auto* a : {&q, &k, &v}) check(cudaMemset(a->data(), 0, n * 4), "memset");
  const double fwd = device_seconds_per_call(
      [&] { attention_forward_device(s, q.data(), k.data(), v.data(), nullptr, out.data(), lse.data()); }, 3);
  const double bwd = device_seconds_per_call(
      [&] {
        attention_backward_device(s, q.data(), k.data(), v.data(), nullptr, out.data(), lse.data(), out.data(),
                                  gq.data(), gk.data(), gv.data());
      },
      3);
  set_compute_precision(saved);
  // Matmul work: forward Q K^T and P V; backward recomputes Q K^T and adds four more products.
  const double flops = 4.0 * B * H * (double)L * L * d;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"precision\": \"%s\", \"B\": %d, \"H\": %d, \"d\": %d, \"L\": %d, \"forward_ms\": %.3f, "
                "\"forward_TFLOPs\": %.1f, \"backward_ms\": %.3f, \"backward_TFLOPs\": %.1f}",
                precision_name(precision), B, H, d, L, fwd * 1e3, flops / fwd / 1e12, bwd * 1e3,
                2.5 * flops / bwd / 1e12);
  return buf;
}

int main() {
  try {
    require_device();
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, 0), "device properties");
    std::string where;
    cublas_available(&where);
    std::printf("{\"device\": \"%s\", \"cublas\": \"%s\",\n", prop.name, where.c_str());
    std::printf(" \"ddim_step\": [%s", step_json("SD latents, batch 8 (4x64x64)", 8, 4 * 64 * 64).c_str());
    // Elements per block: 0 is the kernel's default; the others show the choice.
    for (int blocks_per_sm : {3, 4})
      for (int64_t chunk : {0, 1024, 2048, 8192})
        std::printf(",\n  %s", step_json("batch 64 of 4x128x128", 64, 4 * 128 * 128, chunk, blocks_per_sm).c_str());
    std::printf("],\n");
    std::printf(" \"sgemm_fp32\": [%s,\n  %s],\n", gemm_json(4096, 4096, 4096).c_str(),
                gemm_json(8 * 4096, 1280, 320).c_str());
    std::printf(" \"group_norm_silu\": [%s],\n", norm_json(8, 320, 64 * 64, 32).c_str());
    std::printf(" \"conv3x3\": [%s", conv_json(8, 320, 64, ComputePrecision::kFp32).c_str());
    std::printf(",\n  %s", conv_json(8, 320, 64, ComputePrecision::kBf16).c_str());
    std::printf(",\n  %s", conv_json(8, 1280, 8, ComputePrecision::kFp32).c_str());
    std::printf(",\n  %s],\n", conv_json(8, 1280, 8, ComputePrecision::kBf16).c_str());
    std::printf(" \"attention\": [%s,\n  %s],\n", attention_json(8, 8, 40, 4096, ComputePrecision::kFp32).c_str(),
                attention_json(8, 8, 40, 4096, ComputePrecision::kBf16).c_str());
    std::fflush(stdout);  // the UNet section takes longest: what came before is kept if it fails
    std::printf(" \"unet_sd_v1\": %s}\n", bench_unet_json(UNetBenchConfig{}).c_str());
    const DeviceMemoryStats m = device_memory_stats();
    std::fprintf(stderr, "device memory: peak %.1f MiB, %lld cudaMalloc calls for %lld allocations\n",
                 m.peak_bytes_in_use / 1048576.0, (long long)m.device_mallocs, (long long)m.allocations);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cxrl_cuda_bench: %s\n", e.what());
    return 1;
  }
}
