// The default reward models' CNN (ImageEncoder): gradients of every parameter and of the input by
// finite differences; the affine warp against a float64 reference and its identity/shift cases.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "model/image_encoder.h"
#include "ops/affine_warp.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(image_encoder_gradients_fd) {
  ImageEncoderConfig cfg = ImageEncoderConfig::from_json(
      Json::parse(R"({"in_channels":1,"image_size":16,"out_dim":5,"groups":2,"channels":[4,6]})"));
  ImageEncoder enc(cfg, 3);
  std::vector<std::string> names;
  for (const auto& p : enc.params().all()) names.push_back(p->name);
  std::vector<Tensor> inputs{randn({2, 1, 16, 16})};
  for (const auto& n : names) inputs.push_back(enc.params().find(n)->value);
  auto load = [&](const std::vector<Tensor>& in) {
    for (size_t k = 0; k < names.size(); ++k) enc.params().find(names[k])->value = in[k + 1];
  };
  auto forward = [&](const std::vector<Tensor>& in) {
    load(in);
    return enc.forward(in[0]);
  };
  auto backward = [&](const std::vector<Tensor>& in, const Tensor& gy) {
    load(in);
    enc.params().zero_grad();
    enc.forward(in[0]);
    std::vector<Tensor> out{enc.backward(gy)};
    for (const auto& n : names) out.push_back(enc.params().find(n)->grad);
    if (std::getenv("CXRL_PLANT_DROPPED_GRADIENT")) out[1].v[0] = 0;  // to see the per-entry check fail
    return out;
  };
  fd_directional_check("image encoder: input and every parameter (" + std::to_string(names.size()) + " tensors)",
                       inputs, forward, backward, 5e-3, 1e-2f);
  // Per entry, every entry of every parameter and of the input (the network is small): a single
  // dropped gradient component gives an error of 1 here. float32 forward differences of single
  // entries are noisy at the percent level (up to 5.75e-2 over 300 seeds), hence the tolerance of
  // 0.2; errors in size or direction are the directional check's job above.
  fd_check("image encoder: every parameter entry", inputs, forward, backward, 0.2, 1e-2f, 4096, 1e-2);
  bool threw = false;
  try {
    ImageEncoderConfig::from_json(Json::parse(R"({"image_size":20,"channels":[8,8,8]})"));
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("image_size") != std::string::npos;
  }
  CHECK(threw, "an image size not divisible by 2^stages must be refused by name");
}

TEST(affine_warp_matches_float64_reference) {
  const int64_t B = 3, C = 2, H = 9, W = 12, OH = 7, OW = 10;
  Tensor src = randn({B, C, H, W});
  AffineParams ps[B] = {{1, 1, 0, 0, 0}, {0.9f, 1.15f, 0.1f, -0.07f, 0.2f}, {1.3f, 0.8f, -0.3f, 0.2f, -0.5f}};
  std::vector<float> out(B * C * OH * OW);
  // fill -1 (a constant outside the source), then NaN (each tap outside takes the nearest edge pixel).
  for (const bool edge : {false, true}) {
    affine_warp(src.data(), B, C, H, W, ps, edge ? std::nanf("") : -1.f, OH, OW, out.data());
    double worst = 0;
    int64_t outside_taps = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) {
            const double qx = (2.0 * j + 1) / OW - 1, qy = (2.0 * i + 1) / OH - 1, th = ps[b].rotation;
            const double px = ps[b].scale_x * (std::cos(th) * qx - std::sin(th) * qy) + ps[b].shift_x;
            const double py = ps[b].scale_y * (std::sin(th) * qx + std::cos(th) * qy) + ps[b].shift_y;
            const double x = (px + 1) * W / 2 - 0.5, y = (py + 1) * H / 2 - 0.5;
            double ref = 0;
            for (int dy = 0; dy < 2; ++dy)
              for (int dx = 0; dx < 2; ++dx) {
                const int64_t xx = (int64_t)std::floor(x) + dx, yy = (int64_t)std::floor(y) + dy;
                const double w = (dx ? x - std::floor(x) : 1 - (x - std::floor(x))) *
                                 (dy ? y - std::floor(y) : 1 - (y - std::floor(y)));
                const bool outside = xx < 0 || yy < 0 || xx >= W || yy >= H;
                outside_taps += outside;
                const int64_t cx = std::min<int64_t>(W - 1, std::max<int64_t>(0, xx)),
                              cy = std::min<int64_t>(H - 1, std::max<int64_t>(0, yy));
                ref += w * (outside && !edge ? -1.0 : src.v[((b * C + c) * H + cy) * W + cx]);
              }
            worst = std::max(worst, std::fabs(ref - out[((b * C + c) * OH + i) * OW + j]));
          }
    std::printf("    affine warp (%s fill) vs float64: max abs error %.2e (%lld taps outside the source)\n",
                edge ? "edge" : "constant", worst, (long long)outside_taps);
    CHECK(outside_taps > 0, "the case must sample outside the source");
    CHECK(worst < 1e-5, "affine warp differs from the float64 reference");
  }
  // The identity at the same size reproduces the image exactly.
  std::vector<float> same(B * C * H * W);
  AffineParams id[B];
  affine_warp(src.data(), B, C, H, W, id, 0.f, H, W, same.data());
  double idErr = 0;
  for (size_t k = 0; k < same.size(); ++k) idErr = std::max(idErr, (double)std::fabs(same[k] - src.v[k]));
  CHECK(idErr < 1e-6, "identity warp must copy the image");
}
