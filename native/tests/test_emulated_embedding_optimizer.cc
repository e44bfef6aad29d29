// The embedding and optimizer kernels (cuda/embedding_kernels.cuh, cuda/optimizer_kernels.cuh) on the
// emulated GPU of tests/cuda_emulation.h, launched as embedding.cu and optimizer.cu launch them,
// against the CPU twins: token lookup (bitwise) and its scatter-add backward with repeated ids, the
// sinusoidal timestep embedding, AdamW and Adam with L2 (bitwise: the same float arithmetic), the
// EMA, the sum of squares and scale of gradient clipping, and zeroing and the scaled copy (the flat
// gradient buffer's pack and unpack).

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <string>
#include <vector>

#include "cuda/embedding_kernels.cuh"
#include "cuda/optimizer_kernels.cuh"
#include "harness.h"
#include "model/optimizer.h"
#include "ops/embedding.h"
#include "ops/lookup.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, (double)std::abs(a.v[i] - b.v[i]));
  return d;
}

}  // namespace

TEST(embedding_kernels_on_emulated_gpu_match_cpu) {
  const int64_t n = 7, D = 5, vocab = 4;
  const std::vector<int32_t> ids = {3, 0, 3, 1, 3, 2, 0};  // repeated ids add into the same row
  const Tensor table = randn({vocab, D}), gy = randn({n, D});
  Tensor y({n, D});
  emulation::launch_elementwise(n * D, [&] { lookup_kernel(ids.data(), n, table.v.data(), D, y.v.data()); });
  CHECK(y.v == embedding_lookup_forward(ids.data(), n, table).v, "lookup differs");
  Tensor gt = randn({vocab, D}), gt_cpu = gt;
  emulation::launch_elementwise(n * D, [&] { lookup_backward_kernel(ids.data(), n, gy.v.data(), D, gt.v.data()); });
  embedding_lookup_backward(ids.data(), n, gy, &gt_cpu);
  CHECK(max_abs_diff(gt, gt_cpu) <= 1e-6, "lookup backward (scatter-add) differs");

  for (const bool flip : {true, false}) {
    TimestepEmbeddingSpec spec;
    spec.dim = 9;  // odd: a zero last column
    spec.flip_sin_to_cos = flip;
    spec.freq_shift = 1.f;
    const Tensor t({3}, std::vector<float>{0.f, 17.f, 999.f});
    const std::vector<float> freq = timestep_frequencies(spec);
    Tensor e({3, spec.dim});
    emulation::launch_elementwise(
        3 * spec.dim, [&] { timestep_kernel(t.v.data(), freq.data(), 3, spec.dim, spec.flip_sin_to_cos, e.v.data()); });
    const double d = max_abs_diff(e, timestep_embedding_forward(t, spec));
    CHECK(d <= 1e-6, "timestep embedding differs by " + std::to_string(d));
  }
}

// The multi-tensor kernels over three tensors cut into chunks of 300 values (optimizer.cu uses
// 2^18): a tensor smaller than a chunk, one of a single value, and one that ends inside its fourth
// chunk, so a block's loop runs more than once per thread and chunks start inside a tensor.
constexpr int64_t kTestChunk = 300;

// Launches kernel over the chunk table of `tensors` as optimizer.cu does, with chunks of kTestChunk.
template <typename Arrays, typename Kernel>
void launch_over_chunks(const std::vector<Arrays>& tensors, const Kernel& kernel) {
  const std::vector<Arrays> chunks = chunk_table(tensors, kTestChunk);
  emulation::launch(dim3((unsigned)chunks.size()), dim3(kChunkThreads), 0, [&] { kernel(chunks.data()); });
}

TEST(optimizer_kernels_on_emulated_gpu_match_cpu) {
  const std::vector<int64_t> sizes = {257, 1, 1000};
  CHECK(chunk_table(std::vector<ConstArray>{{nullptr, 1000}, {nullptr, 0}, {nullptr, 300}}, kTestChunk).size() == 5,
        "chunk table: 1000 values are four chunks of 300, an empty tensor none, 300 one");
  for (const bool decoupled : {true, false}) {
    AdamConfig cfg;
    cfg.lr = 1e-2f;
    cfg.weight_decay = 0.1f;
    cfg.decoupled = decoupled;
    std::vector<Tensor> p, m, v, p_cpu, m_cpu, v_cpu;
    for (int64_t n : sizes) {
      p.push_back(randn({n}));
      m.push_back(randn({n}, 0.1f));
      v.push_back(randn({n}, 0.1f));
      for (float& x : v.back().v) x = std::abs(x);
    }
    p_cpu = p, m_cpu = m, v_cpu = v;
    for (int64_t step = 1; step <= 3; ++step) {
      std::vector<Tensor> g;
      std::vector<AdamArrays> arrays;
      std::vector<AdamTensors> tensors;
      for (size_t j = 0; j < sizes.size(); ++j) g.push_back(randn({sizes[j]}));
      for (size_t j = 0; j < sizes.size(); ++j) {
        arrays.push_back({p[j].v.data(), g[j].v.data(), m[j].v.data(), v[j].v.data(), sizes[j]});
        tensors.push_back({&p_cpu[j], &g[j], &m_cpu[j], &v_cpu[j]});
      }
      const AdamStepScalars k = adam_step_scalars(cfg, step);
      launch_over_chunks(arrays, [&](const AdamArrays* table) { adam_chunks(table, k); });
      adam_update(k, tensors);
    }
    for (size_t j = 0; j < sizes.size(); ++j)
      CHECK(p[j].v == p_cpu[j].v && m[j].v == m_cpu[j].v && v[j].v == v_cpu[j].v,
            std::string(decoupled ? "AdamW" : "Adam (L2)") + " differs from the CPU step, tensor " + std::to_string(j));
  }

  const float decay = 0.99f;
  std::vector<Tensor> shadow, live;
  std::vector<EmaArrays> ema;
  for (int64_t n : sizes) shadow.push_back(randn({n})), live.push_back(randn({n}));
  std::vector<Tensor> shadow_cpu = shadow;
  for (size_t j = 0; j < sizes.size(); ++j) ema.push_back({shadow[j].v.data(), live[j].v.data(), sizes[j]});
  launch_over_chunks(ema, [&](const EmaArrays* table) { ema_chunks(table, decay, 1.f - decay); });
  for (size_t j = 0; j < sizes.size(); ++j) {
    for (int64_t i = 0; i < sizes[j]; ++i)
      shadow_cpu[j].v[i] = decay * shadow_cpu[j].v[i] + (1.f - decay) * live[j].v[i];
    CHECK(shadow[j].v == shadow_cpu[j].v, "EMA differs, tensor " + std::to_string(j));
  }

  // Sum of squares: one double partial per chunk (block_sum), added in order on the host.
  std::vector<ConstArray> squares;
  double want = 0;
  for (const Tensor& x : live) {
    squares.push_back({x.v.data(), x.numel()});
    for (float e : x.v) want += (double)e * e;
  }
  std::vector<double> partial(chunk_table(squares, kTestChunk).size(), NAN);
  launch_over_chunks(squares, [&](const ConstArray* table) { sum_squares_chunks(table, partial.data()); });
  double got = 0;
  for (double s : partial) got += s;
  CHECK(std::abs(got - want) <= 1e-12 * want, "sum of squares " + std::to_string(got) + " vs " + std::to_string(want));

  std::vector<Tensor> scaled = live;
  std::vector<MutableArray> scales;
  for (Tensor& x : scaled) scales.push_back({x.v.data(), x.numel()});
  launch_over_chunks(scales, [&](const MutableArray* table) { scale_chunks(table, 0.25f); });
  bool ok = true;
  for (size_t j = 0; j < sizes.size(); ++j)
    for (int64_t i = 0; i < sizes[j]; ++i) ok = ok && scaled[j].v[i] == live[j].v[i] * 0.25f;
  CHECK(ok, "scale differs");

  // Zero writes 0 over anything, NaN and inf included (a product with 0 would keep them).
  std::vector<Tensor> zeroed = live;
  zeroed[0].v[3] = NAN, zeroed[2].v[999] = INFINITY;
  std::vector<MutableArray> zeros;
  for (Tensor& x : zeroed) zeros.push_back({x.v.data(), x.numel()});
  launch_over_chunks(zeros, [&](const MutableArray* table) { zero_chunks(table); });
  bool all_zero = true;
  for (const Tensor& x : zeroed)
    for (float e : x.v) all_zero = all_zero && e == 0.f && !std::signbit(e);
  CHECK(all_zero, "zero left a value");

  // Scaled copies into one flat buffer (pack) and back out of it (unpack), tensors end to end.
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  std::vector<float> flat(total, NAN);
  std::vector<CopyArrays> pack;
  int64_t offset = 0;
  for (const Tensor& x : live) pack.push_back({flat.data() + offset, x.v.data(), x.numel()}), offset += x.numel();
  launch_over_chunks(pack, [&](const CopyArrays* table) { copy_scaled_chunks(table, 1.f); });
  std::vector<Tensor> unpacked = zeroed;
  std::vector<CopyArrays> unpack;
  offset = 0;
  for (Tensor& x : unpacked) unpack.push_back({x.v.data(), flat.data() + offset, x.numel()}), offset += x.numel();
  launch_over_chunks(unpack, [&](const CopyArrays* table) { copy_scaled_chunks(table, -0.5f); });
  bool copied = true;
  offset = 0;
  for (size_t j = 0; j < sizes.size(); ++j)
    for (int64_t i = 0; i < sizes[j]; ++i, ++offset)
      copied = copied && flat[offset] == live[j].v[i] && unpacked[j].v[i] == -0.5f * live[j].v[i];
  CHECK(copied, "the scaled copy into and out of the flat buffer differs");
}
