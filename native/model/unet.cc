#include "model/unet.h"

#include <algorithm>

#include "core/grad_mode.h"
#include "ops/shape_ops.h"

namespace cxrl {

// One down or up block: resnets, optional cross-attention transformers after each resnet, and an
// optional resampler (stride-2 conv down; nearest 2x + conv up). Skip bookkeeping for the backward.
struct UNet2DCondition::Level {
  std::vector<std::unique_ptr<ResnetBlock2D>> resnets;
  std::vector<std::unique_ptr<Transformer2D>> attentions;
  bool has_sampler = false;
  Conv2d sampler;
  std::vector<int> skip_index;      // down: skip pushed after each layer; up: skip consumed by each layer
  int sampler_skip_index = -1;      // down only
  std::vector<int64_t> h_channels;  // up only: channels of h before concatenating the skip
};

UNet2DCondition::UNet2DCondition(const UNetConfig& cfg, uint64_t seed) : cfg_(cfg) {
  params_.set_seed(seed);
  const auto& boc = cfg.block_out_channels;
  const int nb = (int)boc.size(), temb = cfg.time_embed_dim(), groups = cfg.norm_num_groups;
  const int ctx = cfg.cross_attention_dim;
  time_spec_ = {boc[0], cfg.flip_sin_to_cos, cfg.freq_shift, 10000.f};

  conv_in_ = Conv2d(params_, "conv_in", cfg.in_channels, boc[0], 3, 1, 1);
  time_linear_1_ = Linear(params_, "time_embedding.linear_1", boc[0], temb, true);
  time_linear_2_ = Linear(params_, "time_embedding.linear_2", temb, temb, true);

  int out_ch = boc[0];
  for (int i = 0; i < nb; ++i) {
    const int in_ch = out_ch;
    out_ch = boc[i];
    auto L = std::make_unique<Level>();
    const std::string p = "down_blocks." + std::to_string(i);
    const bool attn = UNetConfig::is_cross_attn_block(cfg.down_block_types[i]);
    for (int j = 0; j < cfg.layers_per_block; ++j) {
      const std::string r = p + ".resnets." + std::to_string(j);
      L->resnets.push_back(
          std::make_unique<ResnetBlock2D>(params_, r, j == 0 ? in_ch : out_ch, out_ch, temb, groups, cfg.norm_eps));
      if (attn)
        L->attentions.push_back(std::make_unique<Transformer2D>(params_, p + ".attentions." + std::to_string(j), out_ch,
                                                                ctx, cfg.heads[i], groups, cfg.use_linear_projection));
    }
    if (i < nb - 1) {
      L->has_sampler = true;
      L->sampler = Conv2d(params_, p + ".downsamplers.0.conv", out_ch, out_ch, 3, 2, 1);
    }
    down_.push_back(std::move(L));
  }

  const int mid = boc.back();
  mid_res0_ = std::make_unique<ResnetBlock2D>(params_, "mid_block.resnets.0", mid, mid, temb, groups, cfg.norm_eps);
  mid_attn_ = std::make_unique<Transformer2D>(params_, "mid_block.attentions.0", mid, ctx, cfg.heads.back(), groups,
                                              cfg.use_linear_projection);
  mid_res1_ = std::make_unique<ResnetBlock2D>(params_, "mid_block.resnets.1", mid, mid, temb, groups, cfg.norm_eps);

  std::vector<int> rev(boc.rbegin(), boc.rend()), rev_heads(cfg.heads.rbegin(), cfg.heads.rend());
  out_ch = rev[0];
  for (int i = 0; i < nb; ++i) {
    const int prev_out = out_ch;
    out_ch = rev[i];
    const int in_ch = rev[std::min(i + 1, nb - 1)];
    auto L = std::make_unique<Level>();
    const std::string p = "up_blocks." + std::to_string(i);
    const bool attn = UNetConfig::is_cross_attn_block(cfg.up_block_types[i]);
    const int layers = cfg.layers_per_block + 1;
    for (int j = 0; j < layers; ++j) {
      const int skip_ch = j == layers - 1 ? in_ch : out_ch;
      const int res_in = j == 0 ? prev_out : out_ch;
      L->resnets.push_back(std::make_unique<ResnetBlock2D>(params_, p + ".resnets." + std::to_string(j),
                                                           res_in + skip_ch, out_ch, temb, groups, cfg.norm_eps));
      if (attn)
        L->attentions.push_back(std::make_unique<Transformer2D>(params_, p + ".attentions." + std::to_string(j), out_ch,
                                                                ctx, rev_heads[i], groups, cfg.use_linear_projection));
    }
    if (i < nb - 1) {
      L->has_sampler = true;
      L->sampler = Conv2d(params_, p + ".upsamplers.0.conv", out_ch, out_ch, 3, 1, 1);
    }
    up_.push_back(std::move(L));
  }

  norm_out_ = GroupNorm(params_, "conv_norm_out", groups, boc[0], cfg.norm_eps, NormActivation::kSiLU);
  conv_out_ = Conv2d(params_, "conv_out", boc[0], cfg.out_channels, 3, 1, 1);
}

UNet2DCondition::~UNet2DCondition() = default;

void UNet2DCondition::enable_lora(int rank, float scale) {
  if (rank < 1) throw std::invalid_argument("unet: LoRA rank must be a positive integer");
  if (lora_rank_) throw std::logic_error("unet: LoRA is already enabled");
  const Device device = params_.device();  // the adapters are made on the CPU, then join the weights
  params_.freeze_all();
  for (auto* levels : {&down_, &up_})
    for (auto& L : *levels)
      for (auto& a : L->attentions) a->enable_lora(params_, rank, scale);
  mid_attn_->enable_lora(params_, rank, scale);
  params_.to(device);
  lora_rank_ = rank;
}

Tensor UNet2DCondition::forward(const Tensor& sample, const Tensor& timestep, const Tensor& ehs,
                                const Tensor* encoder_mask) {
  const int nb = (int)cfg_.block_out_channels.size();
  if (sample.ndim() != 4 || sample.dim(1) != cfg_.in_channels)
    throw std::invalid_argument("unet: sample must be [B," + std::to_string(cfg_.in_channels) + ",H,W], got " +
                                shape_str(sample.shape));
  const int64_t B = sample.dim(0), down_factor = 1ll << (nb - 1);
  if (sample.dim(2) % down_factor || sample.dim(3) % down_factor)
    throw std::invalid_argument("unet: height and width must be multiples of " + std::to_string(down_factor));
  if (timestep.numel() != B) throw std::invalid_argument("unet: timestep must have one value per sample");
  if (ehs.ndim() != 3 || ehs.dim(0) != B || ehs.dim(2) != cfg_.cross_attention_dim)
    throw std::invalid_argument("unet: encoder_hidden_states must be [B,L," + std::to_string(cfg_.cross_attention_dim) +
                                "], got " + shape_str(ehs.shape));
  if (encoder_mask && encoder_mask->shape != Shape{B, ehs.dim(1)})
    throw std::invalid_argument("unet: encoder_attention_mask must be [B,L]");
  batch_ = B;
  kept_for_backward_ = grad_enabled();
  context_ = ehs;
  has_mask_ = encoder_mask != nullptr;
  if (has_mask_) mask_ = *encoder_mask;
  const Tensor* mask = has_mask_ ? &mask_ : nullptr;

  const Tensor temb = time_linear_2_.forward(
      time_act_.forward(time_linear_1_.forward(timestep_embedding_forward(timestep, time_spec_))));

  Tensor h = conv_in_.forward(sample);
  std::vector<Tensor> skips{h};
  for (auto& L : down_) {
    L->skip_index.clear();
    for (size_t j = 0; j < L->resnets.size(); ++j) {
      h = L->resnets[j]->forward(h, temb);
      if (!L->attentions.empty()) h = L->attentions[j]->forward(h, context_, mask);
      L->skip_index.push_back((int)skips.size());
      skips.push_back(h);
    }
    if (L->has_sampler) {
      h = L->sampler.forward(h);
      L->sampler_skip_index = (int)skips.size();
      skips.push_back(h);
    }
  }
  skip_channels_.clear();
  for (const auto& s : skips) skip_channels_.push_back(s.dim(1));

  h = mid_res1_->forward(mid_attn_->forward(mid_res0_->forward(h, temb), context_, mask), temb);

  int next_skip = (int)skips.size() - 1;
  for (auto& L : up_) {
    L->skip_index.clear();
    L->h_channels.clear();
    for (size_t j = 0; j < L->resnets.size(); ++j) {
      L->skip_index.push_back(next_skip);
      L->h_channels.push_back(h.dim(1));
      h = concat_channels_forward(h, skips[next_skip]);
      skips[next_skip--] = Tensor();  // release: consumed once
      h = L->resnets[j]->forward(h, temb);
      if (!L->attentions.empty()) h = L->attentions[j]->forward(h, context_, mask);
    }
    if (L->has_sampler) h = L->sampler.forward(upsample_nearest2x_forward(h));
  }
  return conv_out_.forward(norm_out_.forward(h));
}

UNetGrads UNet2DCondition::backward(const Tensor& grad_output) {
  if (batch_ == 0) throw std::logic_error("unet: backward called before forward");
  if (!kept_for_backward_)
    throw std::logic_error("unet: the last forward ran in inference mode (nothing kept for a backward pass)");
  params_.ensure_grads();
  Tensor g = norm_out_.backward(conv_out_.backward(grad_output));
  Tensor gtemb = Tensor::zeros({batch_, (int64_t)cfg_.time_embed_dim()}, grad_output.device);
  Tensor gctx = Tensor::zeros(context_.shape, context_.device);
  std::vector<Tensor> gskips(skip_channels_.size());

  for (auto it = up_.rbegin(); it != up_.rend(); ++it) {
    auto& L = *it;
    if (L->has_sampler) g = upsample_nearest2x_backward(L->sampler.backward(g));
    for (int j = (int)L->resnets.size() - 1; j >= 0; --j) {
      if (!L->attentions.empty()) g = L->attentions[j]->backward(g, &gctx);
      g = L->resnets[j]->backward(g, &gtemb);
      Tensor gh, gskip;
      concat_channels_backward(g, L->h_channels[j], &gh, &gskip);
      g = std::move(gh);
      gskips[L->skip_index[j]] = std::move(gskip);
    }
  }

  g = mid_res0_->backward(mid_attn_->backward(mid_res1_->backward(g, &gtemb), &gctx), &gtemb);

  for (auto it = down_.rbegin(); it != down_.rend(); ++it) {
    auto& L = *it;
    if (L->has_sampler) {
      add_inplace(&g, gskips[L->sampler_skip_index]);
      g = L->sampler.backward(g);
    }
    for (int j = (int)L->resnets.size() - 1; j >= 0; --j) {
      add_inplace(&g, gskips[L->skip_index[j]]);
      if (!L->attentions.empty()) g = L->attentions[j]->backward(g, &gctx);
      g = L->resnets[j]->backward(g, &gtemb);
    }
  }
  add_inplace(&g, gskips[0]);

  UNetGrads out;
  out.sample = conv_in_.backward(g);
  time_linear_1_.backward(time_act_.backward(time_linear_2_.backward(gtemb)));
  out.encoder_hidden_states = std::move(gctx);
  return out;
}

}  // namespace cxrl
