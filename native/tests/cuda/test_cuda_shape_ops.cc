// The CUDA layout ops and embeddings against their CPU twins (exact copies and sums, so the
// bound is tight).
#include <cmath>

#include "cuda/check.h"
#include "cuda/ops.h"
#include "ops/embedding.h"
#include "ops/lookup.h"
#include "ops/shape_ops.h"
#include "tests/cuda/cuda_compare.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

constexpr double kExact = 1e-6;

TEST(cuda_layout_ops_match_cpu) {
  require_device();
  const int B = rand_int(1, 3), C = rand_int(1, 5), H = rand_int(1, 9), W = rand_int(1, 9), planes = B * C;
  const Tensor x = randn({B, C, H, W});
  DeviceArray<float> dx = on_device(x);
  {
    const Tensor y = upsample_nearest2x_forward(x), gy = randn(y.shape);
    DeviceArray<float> dy(y.v.size()), dgy = on_device(gy), dgx(x.v.size());
    upsample_nearest2x_forward_device(dx.data(), dy.data(), planes, H, W);
    upsample_nearest2x_backward_device(dgy.data(), dgx.data(), planes, H, W);
    expect_close("upsample 2x " + shape_str(x.shape), from_device(dy, y.shape), y, kExact);
    expect_close("upsample 2x backward", from_device(dgx, x.shape), upsample_nearest2x_backward(gy), kExact);
  }
  {
    const Tensor y = pad_bottom_right_forward(x, 1, 1), gy = randn(y.shape);
    DeviceArray<float> dy(y.v.size()), dgy = on_device(gy), dgx(x.v.size());
    pad_bottom_right_forward_device(dx.data(), dy.data(), planes, H, W, 1, 1);
    pad_bottom_right_backward_device(dgy.data(), dgx.data(), planes, H, W, 1, 1);
    expect_close("pad bottom/right", from_device(dy, y.shape), y, kExact);
    expect_close("pad backward (crop)", from_device(dgx, x.shape), pad_bottom_right_backward(gy, 1, 1), kExact);
  }
  {
    const int Cb = rand_int(1, 4);
    const Tensor b = randn({B, Cb, H, W}), y = concat_channels_forward(x, b), gy = randn(y.shape);
    Tensor ga, gb;
    concat_channels_backward(gy, C, &ga, &gb);
    DeviceArray<float> db = on_device(b), dy(y.v.size()), dgy = on_device(gy), dga(x.v.size()), dgb(b.v.size());
    concat_channels_forward_device(dx.data(), db.data(), dy.data(), B, C, Cb, (int64_t)H * W);
    concat_channels_backward_device(dgy.data(), dga.data(), dgb.data(), B, C, Cb, (int64_t)H * W);
    expect_close("concat channels", from_device(dy, y.shape), y, kExact);
    expect_close("concat backward (a)", from_device(dga, x.shape), ga, kExact);
    expect_close("concat backward (b)", from_device(dgb, b.shape), gb, kExact);
  }
  {
    const Tensor tokens = nchw_to_tokens(x);
    DeviceArray<float> dt(x.v.size()), back(x.v.size());
    nchw_to_tokens_device(dx.data(), dt.data(), B, C, (int64_t)H * W);
    tokens_to_nchw_device(dt.data(), back.data(), B, C, (int64_t)H * W);
    expect_close("nchw -> tokens", from_device(dt, tokens.shape), tokens, kExact);
    expect_close("tokens -> nchw", from_device(back, x.shape), tokens_to_nchw(tokens, H, W), kExact);
  }
  {
    const Tensor other = randn(x.shape), t = randn({B, C});
    DeviceArray<float> dother = on_device(other), dsum(x.v.size()), dt = on_device(t), gt(planes);
    add_device(dx.data(), dother.data(), dsum.data(), x.numel());
    expect_close("add", from_device(dsum, x.shape), add(x, other), kExact);
    Tensor h = x, scaled = x;
    add_plane_bias(&h, t);
    add_scaled_inplace(&scaled, other, 0.3f);
    DeviceArray<float> dacc = on_device(x);
    add_scaled_device(dacc.data(), dother.data(), 0.3f, x.numel());
    expect_close("add scaled (LoRA branch)", from_device(dacc, x.shape), scaled, kExact);
    add_plane_bias_device(dx.data(), dt.data(), planes, (int64_t)H * W);
    expect_close("per-plane bias add (time embedding)", from_device(dx, x.shape), h, kExact);
    dx = on_device(x);
    plane_sums_device(dx.data(), gt.data(), planes, (int64_t)H * W);
    expect_close("per-plane sums (its gradient)", from_device(gt, {B, C}), plane_sums(x), 1e-5);
  }
}

TEST(cuda_embeddings_match_cpu) {
  require_device();
  const int V = rand_int(2, 50), D = rand_int(1, 40), n = rand_int(1, 80);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = rand_int(0, V - 1);
  const Tensor table = randn({V, D}), gy = randn({n, D});
  Tensor gtable({V, D});
  embedding_lookup_backward(ids.data(), n, gy, &gtable);
  DeviceArray<int32_t> dids = to_device(ids);
  DeviceArray<float> dtable = on_device(table), dy((size_t)n * D), dgy = on_device(gy), dgt = on_device(Tensor({V, D}));
  embedding_lookup_forward_device(dids.data(), n, dtable.data(), D, dy.data());
  embedding_lookup_backward_device(dids.data(), n, dgy.data(), D, dgt.data());
  expect_close("embedding lookup", from_device(dy, {n, D}), embedding_lookup_forward(ids.data(), n, table), kExact);
  expect_close("embedding lookup backward (repeated ids)", from_device(dgt, {V, D}), gtable, 1e-5);
  for (const auto [dim, flip] : {std::pair<int, bool>{320, true}, std::pair<int, bool>{33, false}}) {
    TimestepEmbeddingSpec spec;
    spec.dim = dim;
    spec.flip_sin_to_cos = flip;
    Tensor t({4});
    for (int b = 0; b < 4; ++b) t.v[b] = (float)rand_int(0, 999);
    const Tensor y = timestep_embedding_forward(t, spec);
    DeviceArray<float> dt = on_device(t), dfreq = to_device(timestep_frequencies(spec)), d((size_t)4 * dim);
    timestep_embedding_forward_device(dt.data(), dfreq.data(), 4, dim, flip, d.data());
    // sin/cos of angles up to 999 rad in float32: the device's and libm's differ by an ulp or so.
    expect_close("timestep embedding dim " + std::to_string(dim), from_device(d, y.shape), y, 1e-6);
  }
}
