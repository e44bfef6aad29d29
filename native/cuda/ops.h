// CUDA twins of the engine's ops (native/ops, native/model/optimizer, native/model/ema), on device
// pointers; each has the semantics of its CPU twin, which is its reference in native/tests/cuda.
// Every call is asynchronous on the default stream and throws std::runtime_error on a launch error.
// Accumulating outputs (the "+=" below) follow the CPU twins: callers zero them once per step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "model/optimizer.h"

namespace cxrl {

// linear.cu: x [rows, in], w [out, in], b [out] or null -> y [rows, out] = x w^T + b.
void linear_forward_device(const float* x, const float* w, const float* b, float* y, int64_t rows, int in, int out);
// gx [rows, in] overwritten (skipped when null); gw [out, in] and gb [out] (when not null) accumulated.
void linear_backward_device(const float* x, const float* w, const float* gy, float* gx, float* gw, float* gb,
                            int64_t rows, int in, int out);

// conv2d.cu: x [B, Cin, H, W], w [Cout, Cin, k, k], b [Cout] or null -> y [B, Cout, Ho, Wo].
struct ConvShape {
  int B = 0, Cin = 0, H = 0, W = 0, Cout = 0, k = 1, stride = 1, pad = 0;
};
void conv2d_forward_device(const ConvShape& s, const float* x, const float* w, const float* b, float* y);
// gx (when not null) overwritten; gw, gb (when not null) accumulated.
void conv2d_backward_device(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
                            float* gb);
// The column buffers' budget in bytes (0: the default, 256 MiB), which bounds the images per
// group; returns the previous one. Tests set a small one so that a batch takes several groups.
size_t set_conv2d_column_bytes(size_t bytes);

// activation.cu: pointwise over n elements; GELU is the erf form. GEGLU: x [rows, 2I] -> y [rows, I].
void silu_forward_device(const float* x, float* y, int64_t n);
void silu_backward_device(const float* x, const float* gy, float* gx, int64_t n);
void gelu_forward_device(const float* x, float* y, int64_t n);
void gelu_backward_device(const float* x, const float* gy, float* gx, int64_t n);
void geglu_forward_device(const float* x, float* y, int64_t rows, int64_t I);
void geglu_backward_device(const float* x, const float* gy, float* gx, int64_t rows, int64_t I);

// attention.cu: q [B, Lq, H d], k and v [B, Lk, H d], key_mask [B, Lk] (nonzero = attend) or null,
// scale 1 / sqrt(d); head dims up to kMaxAttentionHeadDim in the flash kernels, wider ones (the VAE's
// 512) through a materialised path, forward only (attention_wide.cu). The forward writes out [B, Lq, H d] and
// lse [B, H, Lq] (each row's log-sum-exp of scores, -inf for a row with every key masked, whose
// output is 0), which the backward uses instead of a stored probability matrix.
constexpr int kMaxAttentionHeadDim = 256;
struct AttentionShape {
  int B = 0, H = 0, d = 0;
  int64_t Lq = 0, Lk = 0;
};
void attention_forward_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                              const float* key_mask, float* out, float* lse);
// gq, gk, gv overwritten.
void attention_backward_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                               const float* key_mask, const float* out, const float* lse, const float* gy, float* gq,
                               float* gk, float* gv);

// norm.cu. A normalised tensor is [B, C, S] with C channels in G groups: each (b, g) block of
// (C / G) * S consecutive values is normalised; gamma, beta [C]. GroupNorm: S = H * W.
// LayerNorm over the last dimension D of `rows` rows: B = rows, C = D, S = 1, G = 1.
struct NormShape {
  int64_t B = 0, C = 0, S = 1, G = 1;
};
// mean, rstd [B * G] written for the backward. With silu, y = silu(norm(x)) and the normalised
// values before the SiLU go to pre_activation when it is not null.
void norm_forward_device(const NormShape& s, const float* x, const float* gamma, const float* beta, float eps, float* y,
                         float* mean, float* rstd, bool silu = false, float* pre_activation = nullptr);
// gx overwritten; ggamma, gbeta accumulated.
void norm_backward_device(const NormShape& s, const float* x, const float* gamma, const float* mean, const float* rstd,
                          const float* gy, float* gx, float* ggamma, float* gbeta);

// shape_ops.cu: a plane is one [H, W] image channel (planes = B C).
void upsample_nearest2x_forward_device(const float* x, float* y, int64_t planes, int H, int W);
void upsample_nearest2x_backward_device(const float* gy, float* gx, int64_t planes, int H, int W);
void pad_bottom_right_forward_device(const float* x, float* y, int64_t planes, int H, int W, int bottom, int right);
void pad_bottom_right_backward_device(const float* gy, float* gx, int64_t planes, int H, int W, int bottom, int right);
void concat_channels_forward_device(const float* a, const float* b, float* y, int64_t B, int64_t Ca, int64_t Cb,
                                    int64_t plane);
void concat_channels_backward_device(const float* gy, float* ga, float* gb, int64_t B, int64_t Ca, int64_t Cb,
                                     int64_t plane);
void add_device(const float* a, const float* b, float* y, int64_t n);  // y may alias a or b
void nchw_to_tokens_device(const float* x, float* y, int64_t B, int64_t C, int64_t HW);
void tokens_to_nchw_device(const float* t, float* y, int64_t B, int64_t C, int64_t HW);
void add_scaled_device(float* acc, const float* b, float scale, int64_t n);  // acc += scale b
// The ResNet block's time embedding: h[p, :] += t[p] over planes, and its gradient out[p] = sum g[p, :].
void add_plane_bias_device(float* h, const float* t, int64_t planes, int64_t HW);
void plane_sums_device(const float* g, float* out, int64_t planes, int64_t HW);

// embedding.cu: ids [n] (device int32, in range: the caller validates on the host) -> y [n, D];
// the backward adds gy rows into gtable. The timestep embedding takes timestep_frequencies(spec)
// on the device: t [B] -> y [B, dim].
void embedding_lookup_forward_device(const int32_t* ids, int64_t n, const float* table, int64_t D, float* y);
void embedding_lookup_backward_device(const int32_t* ids, int64_t n, const float* gy, int64_t D, float* gtable);
void timestep_embedding_forward_device(const float* t, const float* freq, int64_t B, int dim, bool flip_sin_to_cos,
                                       float* y);

// mse_loss.cu
double mse_loss_forward_device(const float* pred, const float* target, int64_t n);
void mse_loss_backward_device(const float* pred, const float* target, float grad_loss, float* g, int64_t n);

// optimizer.cu: the updates of a whole parameter set, each one launch over all of its tensors
// (optimizer_kernels.cuh cuts them into chunks). The arrays of one tensor, n values each:
struct AdamArrays {  // parameter, gradient, first and second moment
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  AdamArrays slice(int64_t start, int64_t len) const { return {p + start, g + start, m + start, v + start, len}; }
};
struct EmaArrays {
  float* shadow;
  const float* live;
  int64_t n;
  EmaArrays slice(int64_t start, int64_t len) const { return {shadow + start, live + start, len}; }
};
struct ConstArray {
  const float* x;
  int64_t n;
  ConstArray slice(int64_t start, int64_t len) const { return {x + start, len}; }
};
struct MutableArray {
  float* x;
  int64_t n;
  MutableArray slice(int64_t start, int64_t len) const { return {x + start, len}; }
};
struct CopyArrays {  // dst = scale src
  float* dst;
  const float* src;
  int64_t n;
  CopyArrays slice(int64_t start, int64_t len) const { return {dst + start, src + start, len}; }
};
// One Adam/AdamW step (scalars from adam_step_scalars); the EMA shadow update
// shadow = decay shadow + (1 - decay) live.
void adam_step_device(const AdamStepScalars& k, const std::vector<AdamArrays>& tensors);
void ema_update_device(const std::vector<EmaArrays>& tensors, float decay);
// Gradient-norm clipping (clip_grad_norm): the sum of squares of every value, accumulated in double
// in a fixed order with one wait for the device, and x *= s.
double sum_squares_device(const std::vector<ConstArray>& tensors);
void scale_device(const std::vector<MutableArray>& tensors, float s);
// Gradient bookkeeping: every array set to 0 (zero_grad), and dst = scale src for each pair (the
// flat gradient buffer's pack and unpack, the all-reduce's averaging folded into the unpack).
void zero_device(const std::vector<MutableArray>& tensors);
void copy_scaled_device(const std::vector<CopyArrays>& copies, float scale);

}  // namespace cxrl
