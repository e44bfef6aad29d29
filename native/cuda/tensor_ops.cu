// The CPU op validated shapes and devices before it dispatched here (ops/*.cc, device_ops); this
// file checks only the kernels' own limits. device_data() refuses a CPU tensor.
#include <stdexcept>
#include <string>

#include "cuda/device_memory.h"
#include "cuda/ops.h"
#include "cuda/tensor_ops.h"

namespace cxrl {
// A named namespace: its functions share the names of the CPU ops they stand in for, which an
// anonymous namespace would make ambiguous.
namespace cuda_tensor {

constexpr Device kGpu = Device::kCuda;

Tensor output(Shape s) { return Tensor::uninitialized(std::move(s), kGpu); }
const float* in(const Tensor& t) { return t.device_data(); }  // read
const float* in_or_null(const Tensor* t) { return t ? t->device_data() : nullptr; }
float* out_or_null(Tensor* t) { return t ? t->mutable_device_data() : nullptr; }  // write

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int in_features = (int)w.dim(1), out_features = (int)w.dim(0);
  Shape ys = x.shape;
  ys.back() = out_features;
  Tensor y = output(ys);
  linear_forward_device(in(x), in(w), in_or_null(b), y.mutable_device_data(), x.numel() / in_features, in_features,
                        out_features);
  return y;
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Tensor* gx, Tensor* gw, Tensor* gb) {
  const int in_features = (int)w.dim(1), out_features = (int)w.dim(0);
  if (gx) *gx = output(x.shape);
  linear_backward_device(in(x), in(w), in(gy), out_or_null(gx), out_or_null(gw), out_or_null(gb),
                         x.numel() / in_features, in_features, out_features);
}

ConvShape conv_shape(const Tensor& x, const Tensor& w, Conv2dGeom g) {
  return ConvShape{(int)x.dim(0), (int)x.dim(1), (int)x.dim(2), (int)x.dim(3),
                   (int)w.dim(0), (int)w.dim(2), g.stride,      g.pad};
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g) {
  const ConvShape s = conv_shape(x, w, g);
  Tensor y = output({s.B, s.Cout, (s.H + 2 * s.pad - s.k) / s.stride + 1, (s.W + 2 * s.pad - s.k) / s.stride + 1});
  conv2d_forward_device(s, in(x), in(w), in_or_null(b), y.mutable_device_data());
  return y;
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw,
                     Tensor* gb) {
  if (gx) *gx = output(x.shape);
  conv2d_backward_device(conv_shape(x, w, g), in(x), in(w), in(gy), out_or_null(gx), out_or_null(gw), out_or_null(gb));
}

template <void (*Kernel)(const float*, float*, int64_t)>
Tensor pointwise(const Tensor& x) {
  Tensor y = output(x.shape);
  Kernel(in(x), y.mutable_device_data(), x.numel());
  return y;
}

template <void (*Kernel)(const float*, const float*, float*, int64_t)>
Tensor pointwise_backward(const Tensor& x, const Tensor& gy) {
  Tensor gx = output(x.shape);
  Kernel(in(x), in(gy), gx.mutable_device_data(), x.numel());
  return gx;
}

Tensor geglu_forward(const Tensor& x) {
  const int64_t I = x.dim(-1) / 2;
  Shape ys = x.shape;
  ys.back() = I;
  Tensor y = output(ys);
  geglu_forward_device(in(x), y.mutable_device_data(), x.numel() / (2 * I), I);
  return y;
}

Tensor geglu_backward(const Tensor& x, const Tensor& gy) {
  const int64_t I = x.dim(-1) / 2;
  Tensor gx = output(x.shape);
  geglu_backward_device(in(x), in(gy), gx.mutable_device_data(), x.numel() / (2 * I), I);
  return gx;
}

// groups > 0: GroupNorm over [B, C, ...]; 0: LayerNorm over the last dimension.
NormShape norm_shape(const Tensor& x, int groups) {
  if (groups == 0) return NormShape{x.numel() / x.dim(-1), x.dim(-1), 1, 1};
  const int64_t B = x.dim(0), C = x.dim(1);
  return NormShape{B, C, x.numel() / (B * C), groups};
}

Tensor norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, NormStats* stats,
                    bool silu, Tensor* pre_activation) {
  const NormShape s = norm_shape(x, groups);
  Tensor y = output(x.shape);
  stats->mean = output({s.B * s.G});
  stats->rstd = output({s.B * s.G});
  if (pre_activation) *pre_activation = output(x.shape);
  norm_forward_device(s, in(x), in(gamma), in(beta), eps, y.mutable_device_data(), stats->mean.mutable_device_data(),
                      stats->rstd.mutable_device_data(), silu, out_or_null(pre_activation));
  return y;
}

void norm_backward(const Tensor& x, int groups, const Tensor& gamma, const NormStats& stats, const Tensor& gy,
                   Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  if (gx) *gx = output(x.shape);
  norm_backward_device(norm_shape(x, groups), in(x), in(gamma), in(stats.mean), in(stats.rstd), in(gy), out_or_null(gx),
                       out_or_null(ggamma), out_or_null(gbeta));
}

AttentionShape attention_shape(const Tensor& q, const Tensor& k, int heads) {
  return AttentionShape{(int)q.dim(0), heads, (int)(q.dim(2) / heads), q.dim(1), k.dim(1)};
}

// The backward recomputes probabilities from the output and each row's log-sum-exp (flash
// attention), so the cache holds those and the key mask instead of a [B, H, Lq, Lk] matrix.
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* key_mask,
                         AttentionCache* cache) {
  const AttentionShape s = attention_shape(q, k, heads);
  Tensor out = output(q.shape), lse = output({s.B, s.H, s.Lq});
  attention_forward_device(s, in(q), in(k), in(v), in_or_null(key_mask), out.mutable_device_data(),
                           lse.mutable_device_data());
  if (cache) {
    cache->probs = Tensor();
    cache->out = out;
    cache->lse = std::move(lse);
    cache->key_mask = key_mask ? *key_mask : Tensor();
  }
  return out;
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache,
                        const Tensor& gy, Tensor* gq, Tensor* gk, Tensor* gv) {
  if (cache.lse.empty()) throw std::logic_error("attention backward: the forward kept nothing (inference mode)");
  const Tensor* mask = cache.key_mask.empty() ? nullptr : &cache.key_mask;
  const AttentionShape s = attention_shape(q, k, heads);
  *gq = output(q.shape);
  *gk = output(k.shape);
  *gv = output(v.shape);
  attention_backward_device(s, in(q), in(k), in(v), in_or_null(mask), in(cache.out), in(cache.lse), in(gy),
                            gq->mutable_device_data(), gk->mutable_device_data(), gv->mutable_device_data());
}

Tensor upsample_nearest2x_forward(const Tensor& x) {
  const int H = (int)x.dim(2), W = (int)x.dim(3);
  Tensor y = output({x.dim(0), x.dim(1), 2 * H, 2 * W});
  upsample_nearest2x_forward_device(in(x), y.mutable_device_data(), x.dim(0) * x.dim(1), H, W);
  return y;
}

Tensor upsample_nearest2x_backward(const Tensor& gy) {
  const int H = (int)(gy.dim(2) / 2), W = (int)(gy.dim(3) / 2);
  Tensor gx = output({gy.dim(0), gy.dim(1), H, W});
  upsample_nearest2x_backward_device(in(gy), gx.mutable_device_data(), gy.dim(0) * gy.dim(1), H, W);
  return gx;
}

Tensor pad_bottom_right_forward(const Tensor& x, int64_t bottom, int64_t right) {
  const int H = (int)x.dim(2), W = (int)x.dim(3);
  Tensor y = output({x.dim(0), x.dim(1), H + bottom, W + right});
  pad_bottom_right_forward_device(in(x), y.mutable_device_data(), x.dim(0) * x.dim(1), H, W, (int)bottom, (int)right);
  return y;
}

Tensor pad_bottom_right_backward(const Tensor& gy, int64_t bottom, int64_t right) {
  const int H = (int)(gy.dim(2) - bottom), W = (int)(gy.dim(3) - right);
  Tensor gx = output({gy.dim(0), gy.dim(1), H, W});
  pad_bottom_right_backward_device(in(gy), gx.mutable_device_data(), gy.dim(0) * gy.dim(1), H, W, (int)bottom,
                                   (int)right);
  return gx;
}

Tensor concat_channels_forward(const Tensor& a, const Tensor& b) {
  const int64_t B = a.dim(0), Ca = a.dim(1), Cb = b.dim(1), plane = a.numel() / (B * Ca);
  Shape s = a.shape;
  s[1] = Ca + Cb;
  Tensor y = output(s);
  concat_channels_forward_device(in(a), in(b), y.mutable_device_data(), B, Ca, Cb, plane);
  return y;
}

void concat_channels_backward(const Tensor& gy, int64_t channels_a, Tensor* ga, Tensor* gb) {
  const int64_t B = gy.dim(0), Cb = gy.dim(1) - channels_a, plane = gy.numel() / (B * gy.dim(1));
  Shape sa = gy.shape, sb = gy.shape;
  sa[1] = channels_a;
  sb[1] = Cb;
  *ga = output(sa);
  *gb = output(sb);
  concat_channels_backward_device(in(gy), ga->mutable_device_data(), gb->mutable_device_data(), B, channels_a, Cb,
                                  plane);
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = output(a.shape);
  add_device(in(a), in(b), y.mutable_device_data(), a.numel());
  return y;
}

void add_scaled_inplace(Tensor* acc, const Tensor& b, float scale) {
  add_scaled_device(acc->mutable_device_data(), in(b), scale, b.numel());
}

void add_plane_bias(Tensor* h, const Tensor& t) {
  add_plane_bias_device(h->mutable_device_data(), in(t), h->dim(0) * h->dim(1), h->dim(2) * h->dim(3));
}

Tensor plane_sums(const Tensor& g) {
  Tensor out = output({g.dim(0), g.dim(1)});
  plane_sums_device(in(g), out.mutable_device_data(), g.dim(0) * g.dim(1), g.dim(2) * g.dim(3));
  return out;
}

Tensor nchw_to_tokens(const Tensor& x) {
  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor t = output({B, HW, C});
  nchw_to_tokens_device(in(x), t.mutable_device_data(), B, C, HW);
  return t;
}

Tensor tokens_to_nchw(const Tensor& t, int64_t H, int64_t W) {
  const int64_t B = t.dim(0), C = t.dim(2);
  Tensor x = output({B, C, H, W});
  tokens_to_nchw_device(in(t), x.mutable_device_data(), B, C, H * W);
  return x;
}

Tensor timestep_embedding_forward(const Tensor& t, const TimestepEmbeddingSpec& s) {
  const DeviceArray<float> freq = to_device(timestep_frequencies(s));
  Tensor y = output({t.numel(), s.dim});
  timestep_embedding_forward_device(in(t), freq.data(), t.numel(), s.dim, s.flip_sin_to_cos, y.mutable_device_data());
  return y;
}

Tensor embedding_lookup_forward(const int32_t* ids, int64_t n, const Tensor& table) {
  const DeviceArray<int32_t> d_ids = to_device(std::vector<int32_t>(ids, ids + n));
  Tensor y = output({n, table.dim(1)});
  embedding_lookup_forward_device(d_ids.data(), n, in(table), table.dim(1), y.mutable_device_data());
  return y;
}

void embedding_lookup_backward(const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable) {
  const DeviceArray<int32_t> d_ids = to_device(std::vector<int32_t>(ids, ids + n));
  embedding_lookup_backward_device(d_ids.data(), n, in(gy), gtable->dim(1), gtable->mutable_device_data());
}

double mse_loss_forward(const Tensor& pred, const Tensor& target) {
  return mse_loss_forward_device(in(pred), in(target), pred.numel());
}

Tensor mse_loss_backward(const Tensor& pred, const Tensor& target, float grad_loss) {
  Tensor g = output(pred.shape);
  mse_loss_backward_device(in(pred), in(target), grad_loss, g.mutable_device_data(), pred.numel());
  return g;
}

void adam_step(const AdamStepScalars& k, const std::vector<AdamTensors>& ts) {
  std::vector<AdamArrays> arrays;
  for (const AdamTensors& t : ts)
    arrays.push_back({t.param->mutable_device_data(), in(*t.grad), t.exp_avg->mutable_device_data(),
                      t.exp_avg_sq->mutable_device_data(), t.param->numel()});
  adam_step_device(k, arrays);
}

void ema_update(const std::vector<EmaTensors>& ts, float decay) {
  std::vector<EmaArrays> arrays;
  for (const EmaTensors& t : ts) arrays.push_back({t.shadow->mutable_device_data(), in(*t.live), t.live->numel()});
  ema_update_device(arrays, decay);
}

double sum_squares(const std::vector<const Tensor*>& ts) {
  std::vector<ConstArray> arrays;
  for (const Tensor* t : ts) arrays.push_back({in(*t), t->numel()});
  return sum_squares_device(arrays);
}

void scale(const std::vector<Tensor*>& ts, float s) {
  std::vector<MutableArray> arrays;
  for (Tensor* t : ts) arrays.push_back({t->mutable_device_data(), t->numel()});
  scale_device(arrays, s);
}

void zero(const std::vector<Tensor*>& ts) {
  std::vector<MutableArray> arrays;
  for (Tensor* t : ts) arrays.push_back({t->overwritten_device_data(), t->numel()});
  zero_device(arrays);
}

void copy_scaled(const std::vector<SliceCopy>& copies, float scale) {
  std::vector<CopyArrays> arrays;
  for (const SliceCopy& c : copies)
    arrays.push_back({c.dst->mutable_device_data() + c.dst_offset, in(*c.src) + c.src_offset, c.n});
  copy_scaled_device(arrays, scale);
}

const DeviceOps& ops() {
  static const DeviceOps table{
      linear_forward,
      linear_backward,
      conv2d_forward,
      conv2d_backward,
      pointwise<silu_forward_device>,
      pointwise_backward<silu_backward_device>,
      pointwise<gelu_forward_device>,
      pointwise_backward<gelu_backward_device>,
      geglu_forward,
      geglu_backward,
      norm_forward,
      norm_backward,
      attention_forward,
      attention_backward,
      upsample_nearest2x_forward,
      upsample_nearest2x_backward,
      pad_bottom_right_forward,
      pad_bottom_right_backward,
      concat_channels_forward,
      concat_channels_backward,
      add,
      add_scaled_inplace,
      add_plane_bias,
      plane_sums,
      nchw_to_tokens,
      tokens_to_nchw,
      timestep_embedding_forward,
      embedding_lookup_forward,
      embedding_lookup_backward,
      mse_loss_forward,
      mse_loss_backward,
  };
  return table;
}

}  // namespace cuda_tensor

const DeviceOps& cuda_tensor_ops() { return cuda_tensor::ops(); }

const TrainingDeviceOps& cuda_training_ops() {
  static const TrainingDeviceOps table{cuda_tensor::adam_step, cuda_tensor::ema_update, cuda_tensor::sum_squares,
                                       cuda_tensor::scale,     cuda_tensor::zero,       cuda_tensor::copy_scaled};
  return table;
}

}  // namespace cxrl
