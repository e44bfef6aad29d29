#include "ops/shape_ops.h"

#include <cstring>

#include "core/parallel.h"
#include "ops/device_ops.h"

namespace cxrl {

Tensor upsample_nearest2x_forward(const Tensor& x) {
  if (x.on_device()) return device_ops("upsample_nearest2x_forward", x).upsample_nearest2x_forward(x);

  const int64_t BC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor y = Tensor::uninitialized({x.dim(0), x.dim(1), 2 * H, 2 * W});
  parallel_for(BC, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < 2 * H; ++i) {
        const float* src = x.data() + (c * H + i / 2) * W;
        float* dst = y.data() + (c * 2 * H + i) * 2 * W;
        for (int64_t j = 0; j < 2 * W; ++j) dst[j] = src[j / 2];
      }
  });
  return y;
}

Tensor upsample_nearest2x_backward(const Tensor& gy) {
  if (gy.on_device()) return device_ops("upsample_nearest2x_backward", gy).upsample_nearest2x_backward(gy);

  const int64_t BC = gy.dim(0) * gy.dim(1), H = gy.dim(2) / 2, W = gy.dim(3) / 2;
  Tensor gx({gy.dim(0), gy.dim(1), H, W});
  parallel_for(BC, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          const float* g = gy.data() + (c * 2 * H + 2 * i) * 2 * W + 2 * j;
          gx.v[(c * H + i) * W + j] = g[0] + g[1] + g[2 * W] + g[2 * W + 1];
        }
  });
  return gx;
}

Tensor pad_bottom_right_forward(const Tensor& x, int64_t bottom, int64_t right) {
  if (x.ndim() != 4 || bottom < 0 || right < 0) throw std::invalid_argument("pad: expected [B,C,H,W] and pads >= 0");
  if (x.on_device()) return device_ops("pad_bottom_right_forward", x).pad_bottom_right_forward(x, bottom, right);
  const int64_t BC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), Wp = W + right;
  Tensor y({x.dim(0), x.dim(1), H + bottom, Wp});
  parallel_for(BC, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < H; ++i)
        std::memcpy(y.data() + (c * (H + bottom) + i) * Wp, x.data() + (c * H + i) * W, W * sizeof(float));
  });
  return y;
}

Tensor pad_bottom_right_backward(const Tensor& gy, int64_t bottom, int64_t right) {
  if (gy.on_device()) return device_ops("pad_bottom_right_backward", gy).pad_bottom_right_backward(gy, bottom, right);

  const int64_t BC = gy.dim(0) * gy.dim(1), Hp = gy.dim(2), Wp = gy.dim(3), H = Hp - bottom, W = Wp - right;
  Tensor gx({gy.dim(0), gy.dim(1), H, W});
  parallel_for(BC, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < H; ++i)
        std::memcpy(gx.data() + (c * H + i) * W, gy.data() + (c * Hp + i) * Wp, W * sizeof(float));
  });
  return gx;
}

Tensor concat_channels_forward(const Tensor& a, const Tensor& b) {
  if (a.ndim() != b.ndim() || a.dim(0) != b.dim(0) || a.numel() / a.dim(1) != b.numel() / b.dim(1))
    throw std::invalid_argument("concat: " + shape_str(a.shape) + " and " + shape_str(b.shape) + " do not fit");
  if (a.on_device()) return device_ops("concat_channels_forward", a, {&b}).concat_channels_forward(a, b);
  Shape s = a.shape;
  s[1] = a.dim(1) + b.dim(1);
  Tensor y = Tensor::uninitialized(s);
  const int64_t B = a.dim(0), na = a.numel() / B, nb = b.numel() / B;
  for (int64_t n = 0; n < B; ++n) {
    std::memcpy(y.data() + n * (na + nb), a.data() + n * na, na * sizeof(float));
    std::memcpy(y.data() + n * (na + nb) + na, b.data() + n * nb, nb * sizeof(float));
  }
  return y;
}

void concat_channels_backward(const Tensor& gy, int64_t channels_a, Tensor* ga, Tensor* gb) {
  if (gy.on_device())
    return device_ops("concat_channels_backward", gy).concat_channels_backward(gy, channels_a, ga, gb);

  const int64_t B = gy.dim(0), per_c = gy.numel() / (B * gy.dim(1));
  Shape sa = gy.shape, sb = gy.shape;
  sa[1] = channels_a;
  sb[1] = gy.dim(1) - channels_a;
  *ga = Tensor(sa);
  *gb = Tensor(sb);
  const int64_t na = channels_a * per_c, nb = sb[1] * per_c;
  for (int64_t n = 0; n < B; ++n) {
    std::memcpy(ga->data() + n * na, gy.data() + n * (na + nb), na * sizeof(float));
    std::memcpy(gb->data() + n * nb, gy.data() + n * (na + nb) + na, nb * sizeof(float));
  }
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add");
  if (a.on_device()) return device_ops("add", a, {&b}).add(a, b);
  Tensor y = Tensor::uninitialized(a.shape);
  parallel_for(a.numel(), 8192, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y.v[i] = a.v[i] + b.v[i];
  });
  return y;
}

void add_inplace(Tensor* acc, const Tensor& b) {
  check_same_shape(*acc, b, "add_inplace");
  if (acc->on_device()) return device_ops("add_inplace", *acc, {&b}).add_scaled_inplace(acc, b, 1.f);
  parallel_for(b.numel(), 8192, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) acc->v[i] += b.v[i];
  });
}

void add_scaled_inplace(Tensor* acc, const Tensor& b, float scale) {
  check_same_shape(*acc, b, "add_scaled_inplace");
  if (acc->on_device()) return device_ops("add_scaled_inplace", *acc, {&b}).add_scaled_inplace(acc, b, scale);

  parallel_for(b.numel(), 8192, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) acc->v[i] += scale * b.v[i];
  });
}

void add_plane_bias(Tensor* h, const Tensor& t) {
  const int64_t B = h->dim(0), C = h->dim(1), HW = h->dim(2) * h->dim(3);
  if (t.shape != Shape{B, C})
    throw std::invalid_argument("add_plane_bias: bias " + shape_str(t.shape) + " does not match " +
                                shape_str(h->shape));
  if (h->on_device()) return device_ops("add_plane_bias", *h, {&t}).add_plane_bias(h, t);
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* row = h->data() + p * HW;
      for (int64_t i = 0; i < HW; ++i) row[i] += t.v[p];
    }
  });
}

Tensor plane_sums(const Tensor& g) {
  if (g.on_device()) return device_ops("plane_sums", g).plane_sums(g);

  const int64_t B = g.dim(0), C = g.dim(1), HW = g.dim(2) * g.dim(3);
  Tensor out({B, C});
  parallel_for(B * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* row = g.data() + p * HW;
      double s = 0;
      for (int64_t i = 0; i < HW; ++i) s += row[i];
      out.v[p] = (float)s;
    }
  });
  return out;
}

Tensor nchw_to_tokens(const Tensor& x) {
  if (x.on_device()) return device_ops("nchw_to_tokens", x).nchw_to_tokens(x);

  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor t = Tensor::uninitialized({B, HW, C});
  parallel_for(B * HW, 64, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const int64_t n = r / HW, p = r % HW;
      for (int64_t c = 0; c < C; ++c) t.v[r * C + c] = x.v[(n * C + c) * HW + p];
    }
  });
  return t;
}

Tensor tokens_to_nchw(const Tensor& t, int64_t H, int64_t W) {
  const int64_t B = t.dim(0), HW = t.dim(1), C = t.dim(2);
  if (HW != H * W) throw std::invalid_argument("tokens_to_nchw: token count differs from H*W");
  if (t.on_device()) return device_ops("tokens_to_nchw", t).tokens_to_nchw(t, H, W);
  Tensor x = Tensor::uninitialized({B, C, H, W});
  parallel_for(B * C, 1, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const int64_t n = r / C, c = r % C;
      for (int64_t p = 0; p < HW; ++p) x.v[r * HW + p] = t.v[(n * HW + p) * C + c];
    }
  });
  return x;
}

}  // namespace cxrl
