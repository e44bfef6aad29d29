// diffusers Transformer2DModel (continuous input, one BasicTransformerBlock): GroupNorm, proj_in
// (1x1 conv or linear), self-attention, cross-attention over encoder_hidden_states, GEGLU
// feed-forward, each pre-LayerNorm with a residual, proj_out, and an outer residual.
#pragma once
#include <memory>

#include "model/layers.h"

namespace cxrl {

// Attention with diffusers' names: to_q, to_k, to_v (bias only with qkv_bias, as in the VAE's
// mid-block attention), to_out.0 (bias).
class AttentionLayer {
 public:
  AttentionLayer(ParamStore& ps, const std::string& name, int query_dim, int context_dim, int heads,
                 bool qkv_bias = false);
  // context == nullptr means self-attention; key_mask [B, Lk] (or null) hides padding keys.
  Tensor forward(const Tensor& x, const Tensor* context, const Tensor* key_mask);
  // Returns d/dx; for cross-attention adds d/dcontext into *gcontext.
  Tensor backward(const Tensor& gy, Tensor* gcontext);
  // LoRA on to_q, to_k, to_v and to_out.0 (the target modules of diffusers' LoRA training).
  void enable_lora(ParamStore& ps, int rank, float scale);

 private:
  Linear to_q_, to_k_, to_v_, to_out_;
  int heads_;
  bool self_ = true;
  Tensor q_, k_, v_;
  AttentionCache cache_;
};

// FeedForward with GEGLU: ff.net.0.proj (dim -> 2*4*dim), hidden * gelu(gate), ff.net.2 (4*dim -> dim).
class GegluFeedForward {
 public:
  GegluFeedForward(ParamStore& ps, const std::string& name, int dim);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);

 private:
  Linear proj_, out_;
  Tensor proj_out_;
};

class BasicTransformerBlock {
 public:
  BasicTransformerBlock(ParamStore& ps, const std::string& name, int dim, int context_dim, int heads);
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor* key_mask);
  Tensor backward(const Tensor& gy, Tensor* gcontext);
  void enable_lora(ParamStore& ps, int rank, float scale);

 private:
  LayerNorm norm1_, norm2_, norm3_;
  AttentionLayer attn1_, attn2_;
  GegluFeedForward ff_;
};

class Transformer2D {
 public:
  Transformer2D(ParamStore& ps, const std::string& name, int channels, int context_dim, int heads, int groups,
                bool linear_projection);
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor* key_mask);
  Tensor backward(const Tensor& gy, Tensor* gcontext);
  void enable_lora(ParamStore& ps, int rank, float scale) { block_->enable_lora(ps, rank, scale); }

 private:
  GroupNorm norm_;
  bool linear_;
  Conv2d proj_in_conv_, proj_out_conv_;
  Linear proj_in_lin_, proj_out_lin_;
  std::unique_ptr<BasicTransformerBlock> block_;
  int64_t H_ = 0, W_ = 0;
};

}  // namespace cxrl
