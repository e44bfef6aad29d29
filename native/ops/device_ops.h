// The device half of every op the models run. A backend fills one DeviceOps with functions of the
// CPU ops' semantics on tensors of its device (same shapes, same accumulate/overwrite rules) and
// registers it; each op in native/ops/ checks its arguments' shapes, then hands the call to the
// table of its input's device (device_ops, which refuses tensors on different devices).
#pragma once
#include "core/backend.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv2d.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/lookup.h"
#include "ops/mse_loss.h"
#include "ops/norm.h"
#include "ops/shape_ops.h"

namespace cxrl {

struct DeviceOps {
  Tensor (*linear_forward)(const Tensor& x, const Tensor& w, const Tensor* b);
  void (*linear_backward)(const Tensor& x, const Tensor& w, const Tensor& gy, Tensor* gx, Tensor* gw, Tensor* gb);
  Tensor (*conv2d_forward)(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g);
  void (*conv2d_backward)(const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw,
                          Tensor* gb);

  Tensor (*silu_forward)(const Tensor& x);
  Tensor (*silu_backward)(const Tensor& x, const Tensor& gy);
  Tensor (*gelu_forward)(const Tensor& x);
  Tensor (*gelu_backward)(const Tensor& x, const Tensor& gy);
  Tensor (*geglu_forward)(const Tensor& x);
  Tensor (*geglu_backward)(const Tensor& x, const Tensor& gy);

  // GroupNorm (groups > 0) and LayerNorm (groups == 0, the last dimension) forward, optionally
  // followed by SiLU (pre_activation: where the normalised values go, or null).
  Tensor (*norm_forward)(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                         NormStats* stats, bool silu, Tensor* pre_activation);
  void (*norm_backward)(const Tensor& x, int groups, const Tensor& gamma, const NormStats& stats, const Tensor& gy,
                        Tensor* gx, Tensor* ggamma, Tensor* gbeta);

  Tensor (*attention_forward)(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* key_mask,
                              AttentionCache* cache);
  void (*attention_backward)(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache,
                             const Tensor& gy, Tensor* gq, Tensor* gk, Tensor* gv);

  Tensor (*upsample_nearest2x_forward)(const Tensor& x);
  Tensor (*upsample_nearest2x_backward)(const Tensor& gy);
  Tensor (*pad_bottom_right_forward)(const Tensor& x, int64_t bottom, int64_t right);
  Tensor (*pad_bottom_right_backward)(const Tensor& gy, int64_t bottom, int64_t right);
  Tensor (*concat_channels_forward)(const Tensor& a, const Tensor& b);
  void (*concat_channels_backward)(const Tensor& gy, int64_t channels_a, Tensor* ga, Tensor* gb);
  Tensor (*add)(const Tensor& a, const Tensor& b);                        // a + b, one pass
  void (*add_scaled_inplace)(Tensor* acc, const Tensor& b, float scale);  // add_inplace uses it too
  void (*add_plane_bias)(Tensor* h, const Tensor& t);
  Tensor (*plane_sums)(const Tensor& g);
  Tensor (*nchw_to_tokens)(const Tensor& x);
  Tensor (*tokens_to_nchw)(const Tensor& t, int64_t H, int64_t W);

  Tensor (*timestep_embedding_forward)(const Tensor& t, const TimestepEmbeddingSpec& s);
  // ids are host values, already checked against the table's rows.
  Tensor (*embedding_lookup_forward)(const int32_t* ids, int64_t n, const Tensor& table);
  void (*embedding_lookup_backward)(const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable);
  double (*mse_loss_forward)(const Tensor& pred, const Tensor& target);
  Tensor (*mse_loss_backward)(const Tensor& pred, const Tensor& target, float grad_loss);
};

// The table of x's device, for op; throws std::invalid_argument naming op unless every non-null
// tensor in `others` is on x's device too, and std::runtime_error when that device has no table.
const DeviceOps& device_ops(const char* op, const Tensor& x, std::initializer_list<const Tensor*> others = {});

}  // namespace cxrl
