// The layout kernels (cuda/shape_ops_kernels.cuh) on the emulated GPU of tests/cuda_emulation.h,
// launched as shape_ops.cu launches them, against the CPU twins (ops/shape_ops.h): bit for bit,
// since they only move values (the per-plane sums: in double on both sides).

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <array>
#include <string>

#include "cuda/shape_ops_kernels.cuh"
#include "harness.h"
#include "ops/shape_ops.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

bool same(const Tensor& a, const Tensor& b) { return a.shape == b.shape && a.v == b.v; }

}  // namespace

TEST(layout_kernels_on_emulated_gpu_match_cpu_bitwise) {
  // Planes of more than 256 values: several blocks along each plane of the plane grids.
  const int64_t B = 2, C = 3, H = 13, W = 23, planes = B * C, HW = H * W;
  const Tensor x = randn({B, C, H, W});

  Tensor up({B, C, 2 * H, 2 * W}), up_back({B, C, H, W});
  emulation::launch_planes(planes, 4 * HW, [&] { upsample2x_kernel(x.v.data(), up.v.data(), planes, (int)H, (int)W); });
  CHECK(same(up, upsample_nearest2x_forward(x)), "upsample 2x differs");
  const Tensor gup = randn(up.shape);
  emulation::launch_planes(planes, HW,
                           [&] { upsample2x_backward_kernel(gup.v.data(), up_back.v.data(), planes, (int)H, (int)W); });
  CHECK(same(up_back, upsample_nearest2x_backward(gup)), "upsample 2x backward differs");

  const int bottom = 1, right = 2;
  Tensor padded({B, C, H + bottom, W + right}), cropped({B, C, H, W});
  emulation::launch_planes(planes, (H + bottom) * (W + right), [&] {
    pad_kernel(x.v.data(), padded.v.data(), planes, (int)H, (int)W, (int)H + bottom, (int)W + right);
  });
  CHECK(same(padded, pad_bottom_right_forward(x, bottom, right)), "pad differs");
  const Tensor gpad = randn(padded.shape);
  emulation::launch_planes(planes, HW, [&] {
    crop_kernel(gpad.v.data(), cropped.v.data(), planes, (int)H, (int)W, (int)H + bottom, (int)W + right);
  });
  CHECK(same(cropped, pad_bottom_right_backward(gpad, bottom, right)), "crop (pad backward) differs");

  // Channel concat as shape_ops.cu does it: two column-block copies into [B, (Ca + Cb) HW].
  const Tensor b = randn({B, 4, H, W});
  Tensor cat({B, C + 4, H, W}), ga(x.shape), gb(b.shape);
  const int64_t cols = (C + 4) * HW;
  emulation::launch_planes(B, C * HW,
                           [&] { column_block_kernel(x.v.data(), cat.v.data(), B, C * HW, cols, 0, false); });
  emulation::launch_planes(B, 4 * HW,
                           [&] { column_block_kernel(b.v.data(), cat.v.data(), B, 4 * HW, cols, C * HW, false); });
  CHECK(same(cat, concat_channels_forward(x, b)), "channel concat differs");
  const Tensor gcat = randn(cat.shape);
  emulation::launch_planes(B, C * HW,
                           [&] { column_block_kernel(gcat.v.data(), ga.v.data(), B, C * HW, cols, 0, true); });
  emulation::launch_planes(B, 4 * HW,
                           [&] { column_block_kernel(gcat.v.data(), gb.v.data(), B, 4 * HW, cols, C * HW, true); });
  Tensor ga_cpu, gb_cpu;
  concat_channels_backward(gcat, C, &ga_cpu, &gb_cpu);
  CHECK(same(ga, ga_cpu) && same(gb, gb_cpu), "channel concat backward differs");

  const Tensor y = randn(x.shape);
  Tensor sum(x.shape), acc = x, acc_cpu = x;
  emulation::launch_elementwise(x.numel(), [&] { add_kernel(x.v.data(), y.v.data(), sum.v.data(), x.numel()); });
  CHECK(same(sum, add(x, y)), "add differs");
  emulation::launch_elementwise(x.numel(), [&] { add_scaled_kernel(acc.v.data(), y.v.data(), 0.3f, x.numel()); });
  add_scaled_inplace(&acc_cpu, y, 0.3f);
  CHECK(same(acc, acc_cpu), "add scaled differs");

  // The transposes, as shape_ops.cu launches them: here and on a shape of 3 x 2 tiles, both partial.
  for (const auto [Ct, Ht, Wt] : {std::array<int64_t, 3>{C, H, W}, std::array<int64_t, 3>{70, 5, 9}}) {
    const Tensor planes_in = randn({B, Ct, Ht, Wt});
    const int64_t HWt = Ht * Wt;
    Tensor tokens({B, HWt, Ct}), back(planes_in.shape);
    emulation::launch(transpose_grid(B, Ct, HWt), dim3(kTransposeThreads), 0,
                      [&] { transpose_tiles_kernel(planes_in.v.data(), tokens.v.data(), Ct, HWt); });
    CHECK(same(tokens, nchw_to_tokens(planes_in)), "NCHW -> tokens differs, " + shape_str(planes_in.shape));
    emulation::launch(transpose_grid(B, HWt, Ct), dim3(kTransposeThreads), 0,
                      [&] { transpose_tiles_kernel(tokens.v.data(), back.v.data(), HWt, Ct); });
    CHECK(same(back, tokens_to_nchw(tokens, Ht, Wt)), "tokens -> NCHW differs, " + shape_str(planes_in.shape));
  }

  const Tensor t = randn({B, C});
  Tensor h = x, h_cpu = x, sums({B, C});
  emulation::launch_planes(planes, HW, [&] { plane_bias_kernel(h.v.data(), t.v.data(), planes, HW); });
  add_plane_bias(&h_cpu, t);
  CHECK(same(h, h_cpu), "plane bias differs");
  emulation::launch(dim3((unsigned)planes), dim3(kPlaneSumThreads), 0,
                    [&] { plane_sum_kernel(y.v.data(), sums.v.data(), HW); });
  const Tensor sums_cpu = plane_sums(y);
  double worst = 0;
  for (int64_t i = 0; i < planes; ++i) worst = std::max(worst, (double)std::abs(sums.v[i] - sums_cpu.v[i]));
  CHECK(worst <= 1e-6, "plane sums differ by " + std::to_string(worst));
}
