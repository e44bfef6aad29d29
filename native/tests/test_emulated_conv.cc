// The convolution's layout kernels (cuda/conv2d_kernels.cuh) on the emulated GPU of
// tests/cuda_emulation.h, launched as conv2d.cu launches them: im2col against its definition, in
// both column layouts (per image, and side by side for the weight gradient), col2im as its exact
// adjoint (<im2col(x), g> = <x, col2im(g)>), the bias add, and the bias gradient against sums in
// double, and the bf16 columns and operand rounding of bf16 compute; over the UNet's 3x3, its
// stride-2 downsampler, 1x1 and a 4x4 with padding 2, two images at a time.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <array>
#include <string>
#include <vector>

#include "cuda/conv2d_kernels.cuh"
#include "harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(conv_layout_kernels_on_emulated_gpu) {
  for (const auto [k, stride, pad] : {std::array<int, 3>{3, 1, 1}, std::array<int, 3>{3, 2, 1},
                                      std::array<int, 3>{1, 1, 0}, std::array<int, 3>{4, 2, 2}}) {
    const int images = 2, Cin = 3, H = 9, W = 6, Cout = 4;
    Dims d{Cin, H, W, Cout, k, stride, pad, (H + 2 * pad - k) / stride + 1, (W + 2 * pad - k) / stride + 1};
    const std::string l =
        std::to_string(k) + "x" + std::to_string(k) + " s" + std::to_string(stride) + " p" + std::to_string(pad);
    const Tensor x = randn({images, Cin, H, W});
    const int64_t per_image = d.rows() * d.cols();
    Tensor col({images * per_image}), wide({images * per_image});
    emulation::launch_planes(images * d.rows(), d.cols(),
                             [&] { im2col_kernel(d, x.v.data(), images, false, col.v.data()); });
    emulation::launch_planes(images * d.rows(), d.cols(),
                             [&] { im2col_kernel(d, x.v.data(), images, true, wide.v.data()); });
    bool exact = true;
    for (int img = 0; img < images; ++img)
      for (int c = 0; c < Cin; ++c)
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            for (int oy = 0; oy < d.Ho; ++oy)
              for (int ox = 0; ox < d.Wo; ++ox) {
                const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                const float want =
                    iy >= 0 && iy < H && ix >= 0 && ix < W ? x.v[((img * Cin + c) * H + iy) * W + ix] : 0.f;
                const int64_t row = (c * k + ky) * k + kx, pos = oy * d.Wo + ox;
                exact = exact && col.v[img * per_image + row * d.cols() + pos] == want &&
                        wide.v[(row * images + img) * d.cols() + pos] == want;
              }
    CHECK(exact, l + ": im2col differs from its definition");

    // Under bf16 compute the columns are stored as bf16: each the fp32 column rounded to nearest
    // even, as the operand rounding kernel rounds any array.
    std::vector<__nv_bfloat16> col_bf16(images * per_image), rounded(images * per_image);
    emulation::launch_planes(images * d.rows(), d.cols(),
                             [&] { im2col_kernel(d, x.v.data(), images, false, col_bf16.data()); });
    emulation::launch_elementwise(images * per_image,
                                  [&] { round_to_bf16_kernel(col.v.data(), rounded.data(), images * per_image); });
    bool rounded_ok = true;
    for (int64_t i = 0; i < images * per_image; ++i) {
      const float want = __bfloat162float(__float2bfloat16_rn(col.v[i]));
      rounded_ok = rounded_ok && __bfloat162float(col_bf16[i]) == want && __bfloat162float(rounded[i]) == want &&
                   std::abs(want - col.v[i]) <= std::abs(col.v[i]) * (1.f / 256);
    }
    CHECK(rounded_ok, l + ": bf16 columns differ from the rounded fp32 ones");

    const Tensor g = randn(col.shape);
    Tensor gx(x.shape);
    emulation::launch_planes(images * Cin, H * W, [&] { col2im_kernel(d, g.v.data(), images, gx.v.data()); });
    double lhs = 0, rhs = 0, scale = 0;
    for (int64_t i = 0; i < col.numel(); ++i)
      lhs += (double)col.v[i] * g.v[i], scale += std::abs((double)col.v[i] * g.v[i]);
    for (int64_t i = 0; i < x.numel(); ++i) rhs += (double)x.v[i] * gx.v[i];
    std::printf("    %s: <im2col x, g> %.6f, <x, col2im g> %.6f\n", l.c_str(), lhs, rhs);
    CHECK(std::abs(lhs - rhs) <= 1e-6 * scale, l + ": col2im is not im2col's adjoint");

    Tensor y = randn({images, Cout, d.Ho, d.Wo});
    const Tensor y0 = y, bias = randn({Cout});
    const int64_t plane = d.cols(), total = y.numel();
    emulation::launch_planes(images * Cout, plane,
                             [&] { add_channel_bias(y.v.data(), bias.v.data(), images * Cout, (int)plane, Cout); });
    bool bias_ok = true;
    for (int64_t i = 0; i < total; ++i) bias_ok = bias_ok && y.v[i] == y0.v[i] + bias.v[i / plane % Cout];
    CHECK(bias_ok, l + ": bias add differs");
    Tensor gb({Cout}, 0.5f);  // accumulated into
    emulation::launch(dim3(Cout), dim3(kChannelSumThreads), 0,
                      [&] { channel_sum(y0.v.data(), images, Cout, plane, gb.v.data()); });
    for (int c = 0; c < Cout; ++c) {
      double s = 0.5;
      for (int img = 0; img < images; ++img)
        for (int64_t p = 0; p < plane; ++p) s += y0.v[(img * Cout + c) * plane + p];
      CHECK(std::abs(gb.v[c] - s) <= 1e-5 * (1 + std::abs(s)), l + ": bias gradient differs");
    }
  }
}
