#include "model/transformer.h"

#include "core/grad_mode.h"
#include "ops/activation.h"
#include "ops/shape_ops.h"

namespace cxrl {

AttentionLayer::AttentionLayer(ParamStore& ps, const std::string& n, int query_dim, int context_dim, int heads,
                               bool qkv_bias)
    : to_q_(ps, n + ".to_q", query_dim, query_dim, qkv_bias),
      to_k_(ps, n + ".to_k", context_dim, query_dim, qkv_bias),
      to_v_(ps, n + ".to_v", context_dim, query_dim, qkv_bias),
      to_out_(ps, n + ".to_out.0", query_dim, query_dim, true),
      heads_(heads) {}

Tensor AttentionLayer::forward(const Tensor& x, const Tensor* context, const Tensor* key_mask) {
  self_ = context == nullptr;
  const Tensor& ctx = self_ ? x : *context;
  q_ = to_q_.forward(x);
  k_ = to_k_.forward(ctx);
  v_ = to_v_.forward(ctx);
  if (!grad_enabled()) cache_ = AttentionCache();  // inference: release the probabilities, keep none
  return to_out_.forward(attention_forward(q_, k_, v_, heads_, key_mask, grad_enabled() ? &cache_ : nullptr));
}

Tensor AttentionLayer::backward(const Tensor& gy, Tensor* gcontext) {
  Tensor gq, gk, gv;
  attention_backward(q_, k_, v_, heads_, cache_, to_out_.backward(gy), &gq, &gk, &gv);
  Tensor gx = to_q_.backward(gq);
  Tensor gctx = to_k_.backward(gk);
  add_inplace(&gctx, to_v_.backward(gv));
  add_inplace(self_ ? &gx : gcontext, gctx);
  return gx;
}

void AttentionLayer::enable_lora(ParamStore& ps, int rank, float scale) {
  for (Linear* l : {&to_q_, &to_k_, &to_v_, &to_out_}) l->enable_lora(ps, rank, scale);
}

GegluFeedForward::GegluFeedForward(ParamStore& ps, const std::string& n, int dim)
    : proj_(ps, n + ".net.0.proj", dim, dim * 4 * 2, true), out_(ps, n + ".net.2", dim * 4, dim, true) {}

Tensor GegluFeedForward::forward(const Tensor& x) {
  proj_out_ = proj_.forward(x);
  return out_.forward(geglu_forward(proj_out_));
}

Tensor GegluFeedForward::backward(const Tensor& gy) {
  return proj_.backward(geglu_backward(proj_out_, out_.backward(gy)));
}

BasicTransformerBlock::BasicTransformerBlock(ParamStore& ps, const std::string& n, int dim, int context_dim, int heads)
    : norm1_(ps, n + ".norm1", dim, 1e-5f),
      norm2_(ps, n + ".norm2", dim, 1e-5f),
      norm3_(ps, n + ".norm3", dim, 1e-5f),
      attn1_(ps, n + ".attn1", dim, dim, heads),
      attn2_(ps, n + ".attn2", dim, context_dim, heads),
      ff_(ps, n + ".ff", dim) {}

Tensor BasicTransformerBlock::forward(const Tensor& x, const Tensor& context, const Tensor* key_mask) {
  Tensor h = add(attn1_.forward(norm1_.forward(x), nullptr, nullptr), x);  // self-attention over pixels: no mask
  h = add(attn2_.forward(norm2_.forward(h), &context, key_mask), h);
  return add(ff_.forward(norm3_.forward(h)), h);
}

void BasicTransformerBlock::enable_lora(ParamStore& ps, int rank, float scale) {
  attn1_.enable_lora(ps, rank, scale);
  attn2_.enable_lora(ps, rank, scale);
}

Tensor BasicTransformerBlock::backward(const Tensor& gy, Tensor* gcontext) {
  Tensor g = gy;
  add_inplace(&g, norm3_.backward(ff_.backward(gy)));
  Tensor g2 = g;
  add_inplace(&g2, norm2_.backward(attn2_.backward(g, gcontext)));
  Tensor g1 = g2;
  add_inplace(&g1, norm1_.backward(attn1_.backward(g2, nullptr)));
  return g1;
}

Transformer2D::Transformer2D(ParamStore& ps, const std::string& n, int channels, int context_dim, int heads, int groups,
                             bool linear_projection)
    : norm_(ps, n + ".norm", groups, channels, 1e-6f), linear_(linear_projection) {
  if (linear_)
    proj_in_lin_ = Linear(ps, n + ".proj_in", channels, channels, true);
  else
    proj_in_conv_ = Conv2d(ps, n + ".proj_in", channels, channels, 1, 1, 0);
  block_ = std::make_unique<BasicTransformerBlock>(ps, n + ".transformer_blocks.0", channels, context_dim, heads);
  if (linear_)
    proj_out_lin_ = Linear(ps, n + ".proj_out", channels, channels, true);
  else
    proj_out_conv_ = Conv2d(ps, n + ".proj_out", channels, channels, 1, 1, 0);
}

Tensor Transformer2D::forward(const Tensor& x, const Tensor& context, const Tensor* key_mask) {
  H_ = x.dim(2);
  W_ = x.dim(3);
  Tensor h = norm_.forward(x);
  h = linear_ ? proj_in_lin_.forward(nchw_to_tokens(h)) : nchw_to_tokens(proj_in_conv_.forward(h));
  h = block_->forward(h, context, key_mask);
  h = linear_ ? tokens_to_nchw(proj_out_lin_.forward(h), H_, W_) : proj_out_conv_.forward(tokens_to_nchw(h, H_, W_));
  return add(h, x);
}

Tensor Transformer2D::backward(const Tensor& gy, Tensor* gcontext) {
  Tensor g = linear_ ? proj_out_lin_.backward(nchw_to_tokens(gy)) : nchw_to_tokens(proj_out_conv_.backward(gy));
  g = block_->backward(g, gcontext);
  g = linear_ ? tokens_to_nchw(proj_in_lin_.backward(g), H_, W_) : proj_in_conv_.backward(tokens_to_nchw(g, H_, W_));
  Tensor gx = norm_.backward(g);
  add_inplace(&gx, gy);
  return gx;
}

}  // namespace cxrl
