// The CUDA convolution and flash attention against their CPU twins: forward and every gradient,
// over stride, padding, kernel size, head dims up to an SD-sized 160, key masks (one row fully
// masked), and query/key lengths that are not multiples of the tiles.
#include <array>
#include <cmath>

#include "cuda/check.h"
#include "cuda/ops.h"
#include "ops/attention.h"
#include "ops/conv2d.h"
#include "tests/attention_case.h"
#include "tests/cuda/cuda_compare.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(cuda_conv2d_matches_cpu) {
  require_device();
  // {k, stride, pad}: the UNet's 3x3, its stride-2 downsampler, 1x1 shortcuts, and a 4x4.
  for (const auto [k, stride, pad] : {std::array<int, 3>{3, 1, 1}, std::array<int, 3>{3, 2, 1},
                                      std::array<int, 3>{1, 1, 0}, std::array<int, 3>{4, 2, 2}}) {
    ConvShape s;
    // Several images, so the batched products' strides and the side-by-side weight gradient are exercised.
    s.B = rand_int(3, 5), s.Cin = rand_int(1, 20), s.H = rand_int(k, 24), s.W = rand_int(k, 24);
    s.Cout = rand_int(1, 20), s.k = k, s.stride = stride, s.pad = pad;
    const Tensor x = randn({s.B, s.Cin, s.H, s.W}), w = randn({s.Cout, s.Cin, k, k}, 0.3f), b = randn({s.Cout});
    const Conv2dGeom g{stride, pad};
    const Tensor y = conv2d_forward(x, w, &b, g), gy = randn(y.shape);
    const Tensor gw0 = randn(w.shape), gb0 = randn(b.shape);  // accumulated into
    Tensor gx, gw = gw0, gb = gb0;
    conv2d_backward(x, w, gy, g, &gx, &gw, &gb);
    const size_t image_columns = (size_t)s.Cin * k * k * y.dim(2) * y.dim(3) * sizeof(float);
    // The whole batch in one column buffer, then in groups of two images (the last one shorter).
    for (const size_t budget : {size_t(0), 2 * image_columns}) {
      set_conv2d_column_bytes(budget);
      DeviceArray<float> dx = on_device(x), dw = on_device(w), db = on_device(b), dy(y.v.size()), dgy = on_device(gy),
                         dgx(x.v.size()), dgw = on_device(gw0), dgb = on_device(gb0);
      conv2d_forward_device(s, dx.data(), dw.data(), db.data(), dy.data());
      conv2d_backward_device(s, dx.data(), dw.data(), dgy.data(), dgx.data(), dgw.data(), dgb.data());
      set_conv2d_column_bytes(0);
      const std::string l = "conv " + std::to_string(k) + "x" + std::to_string(k) + " s" + std::to_string(stride) +
                            " p" + std::to_string(pad) + " " + shape_str(x.shape) + "->" + std::to_string(s.Cout) +
                            (budget ? ", groups of 2" : ", one group");
      expect_close(l + " y", from_device(dy, y.shape), y, kFp32Tol);
      expect_close(l + " gx", from_device(dgx, x.shape), gx, kFp32Tol);
      expect_close(l + " gw (accumulated)", from_device(dgw, w.shape), gw, kFp32Tol);
      expect_close(l + " gb (accumulated)", from_device(dgb, b.shape), gb, kFp32Tol);
    }
  }
}

TEST(cuda_attention_matches_cpu) {
  require_device();
  for (const AttentionCase c : {AttentionCase{2, 2, 8, 37, 37, false}, AttentionCase{1, 3, 40, 70, 77, true},
                                AttentionCase{2, 1, 160, 33, 45, true}, AttentionCase{1, 2, 64, 5, 300, false},
                                AttentionCase{1, 8, 40, 129, 7, true}}) {
    const AttentionReference r = attention_reference(c);
    const Tensor &q = r.q, &k = r.k, &v = r.v, &gy = r.gy, &mask = r.mask, &y = r.y, &gq = r.gq, &gk = r.gk, &gv = r.gv;
    const AttentionShape s{c.B, c.H, c.d, c.Lq, c.Lk};
    DeviceArray<float> dq = on_device(q), dk = on_device(k), dv = on_device(v), dmask = on_device(mask),
                       dgy = on_device(gy), dy(y.v.size()), lse((size_t)c.B * c.H * c.Lq), dgq(q.v.size()),
                       dgk(k.v.size()), dgv(v.v.size());
    const float* dm = c.mask ? dmask.data() : nullptr;
    attention_forward_device(s, dq.data(), dk.data(), dv.data(), dm, dy.data(), lse.data());
    attention_backward_device(s, dq.data(), dk.data(), dv.data(), dm, dy.data(), lse.data(), dgy.data(), dgq.data(),
                              dgk.data(), dgv.data());
    const std::string l = "attention " + c.label();
    expect_close(l + " y", from_device(dy, y.shape), y, kFp32Tol);
    expect_close(l + " gq", from_device(dgq, q.shape), gq, kFp32Tol);
    expect_close(l + " gk", from_device(dgk, k.shape), gk, kFp32Tol);
    expect_close(l + " gv", from_device(dgv, v.shape), gv, kFp32Tol);
  }
}

// Head dims above the flash kernels' limit (the VAE's 512-wide single head): the materialised
// forward against the CPU, through the device tensors (so the op table's dispatch is covered too).
TEST(cuda_wide_attention_forward_matches_cpu) {
  require_device();
  for (const bool masked : {false, true}) {
    const int B = 2, H = 1, d = 512, Lq = 300, Lk = 257;
    const Tensor q = randn({B, Lq, H * d}, 0.05f), k = randn({B, Lk, H * d}, 0.05f), v = randn({B, Lk, H * d});
    Tensor mask({B, Lk}, 1.f);
    if (masked)
      for (int j = 0; j < Lk; j += 4) mask.v[j] = 0.f;
    const Tensor* m = masked ? &mask : nullptr;
    const Tensor y = attention_forward(q, k, v, H, m, nullptr);
    const Tensor mask_gpu = mask.to(Device::kCuda);
    const Tensor y_gpu = attention_forward(q.to(Device::kCuda), k.to(Device::kCuda), v.to(Device::kCuda), H,
                                           masked ? &mask_gpu : nullptr, nullptr);
    expect_close(std::string("wide attention d512 300x257") + (masked ? " masked" : ""), y_gpu.to(Device::kCpu), y,
                 kFp32Tol);
  }
}
