// The emulated GPU of tests/cuda_emulation.h, on which the CPU suite runs the CUDA kernels: its
// warp shuffles, block reduction (cuda/block_reduce.cuh), atomics and WMMA tile product give the
// documented results, and it reports the rules it claims to check (misaligned WMMA pointers, a
// barrier in a kernel run sequentially).

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <string>
#include <vector>

#include "cuda/block_reduce.cuh"
#include "harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(emulated_gpu_shuffles_reductions_and_atomics) {
  std::vector<float> xor_out(64), down_out(64), sums(2);
  std::vector<double> maxima(2);
  float counter = 0.f;
  emulation::launch(dim3(2), dim3(96), 0, [&] {
    const int t = (int)threadIdx.x, lane = t % 32;
    const float mine = (float)(100 * blockIdx.x + t);
    const float x = __shfl_xor_sync(0xffffffffu, mine, 5), d = __shfl_down_sync(0xffffffffu, mine, 3u);
    if (t < 32) {
      xor_out[blockIdx.x * 32 + lane] = x;
      down_out[blockIdx.x * 32 + lane] = d;
    }
    const float s = block_sum(1.f + t);
    const double m = (double)block_max(mine);
    if (t == 0) {
      sums[blockIdx.x] = s;
      maxima[blockIdx.x] = m;
    }
    atomicAdd(&counter, 1.f);
  });
  for (int b = 0; b < 2; ++b) {
    for (int lane = 0; lane < 32; ++lane) {
      CHECK(xor_out[b * 32 + lane] == (float)(100 * b + (lane ^ 5)), "shfl_xor took the wrong lane");
      const int src = lane + 3 < 32 ? lane + 3 : lane;  // past the warp: the lane's own value
      CHECK(down_out[b * 32 + lane] == (float)(100 * b + src), "shfl_down took the wrong lane");
    }
    CHECK(sums[b] == 96.f * 97.f / 2.f, "block_sum over 96 threads");
    CHECK(maxima[b] == 100.0 * b + 95, "block_max over 96 threads");
  }
  CHECK(counter == 192.f, "atomicAdd lost updates");
}

TEST(emulated_wmma_tile_product_and_its_rules) {
  using namespace nvcuda;
  alignas(32) __nv_bfloat16 a[16 * 24], b[16 * 24];  // ldm 24: rows padded by 8
  alignas(32) float c[16 * 16];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      a[i * 24 + j] = __float2bfloat16_rn((float)(i - j) / 4);
      b[i * 24 + j] = __float2bfloat16_rn((float)(i + 2 * j) / 8);
    }
  emulation::launch(dim3(1), dim3(32), 0, [&] {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;  // b read as its transpose
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 1.f);
    wmma::load_matrix_sync(fa, a, 24);
    wmma::load_matrix_sync(fb, b, 24);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
  });
  double worst = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double want = 1;  // c = a b^T + 1, every operand exact in bf16
      for (int k = 0; k < 16; ++k) want += (double)(i - k) / 4 * ((double)(j + 2 * k) / 8);
      worst = std::max(worst, std::abs(c[i * 16 + j] - want));
    }
  CHECK(worst == 0.0, "the tile product A B^T + 1 differs from the exact one");

  const std::string misaligned = thrown_message<std::runtime_error>([&] {
    emulation::launch(dim3(1), dim3(32), 0, [&] {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> f;
      wmma::load_matrix_sync(f, c + 1, 16, wmma::mem_row_major);
    });
  });
  CHECK(misaligned.find("not 32-byte aligned") != std::string::npos, "misaligned pointer: '" + misaligned + "'");
  const std::string bad_ldm = thrown_message<std::runtime_error>([&] {
    emulation::launch(dim3(1), dim3(32), 0, [&] {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> f;
      wmma::load_matrix_sync(f, a, 20);
    });
  });
  CHECK(bad_ldm.find("ldm not a multiple of 16 bytes") != std::string::npos, "bad ldm: '" + bad_ldm + "'");
  const std::string sequential = thrown_message<std::runtime_error>([&] {
    emulation::launch(
        dim3(1), dim3(32), 0, [&] { __syncthreads(); }, emulation::Threads::kSequential);
  });
  CHECK(sequential.find("Threads::kSequential") != std::string::npos,
        "barrier in a sequential launch: '" + sequential + "'");
}
