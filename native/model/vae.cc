#include "model/vae.h"

#include <algorithm>

#include "core/grad_mode.h"
#include "ops/shape_ops.h"

namespace cxrl {
namespace {

constexpr float kVaeEps = 1e-6f;  // every VAE GroupNorm (resnets, attention, output)

std::unique_ptr<ResnetBlock2D> vae_resnet(ParamStore& ps, const std::string& name, int in, int out, int groups) {
  return std::make_unique<ResnetBlock2D>(ps, name, in, out, /*temb_dim=*/0, groups, kVaeEps);
}

}  // namespace

VaeSelfAttention::VaeSelfAttention(ParamStore& ps, const std::string& n, int channels, int groups)
    : norm_(ps, n + ".group_norm", groups, channels, kVaeEps),
      attn_(ps, n, channels, channels, /*heads=*/1, /*qkv_bias=*/true) {}

Tensor VaeSelfAttention::forward(const Tensor& x) {
  const int64_t H = x.dim(2), W = x.dim(3);
  Tensor h = attn_.forward(nchw_to_tokens(norm_.forward(x)), nullptr, nullptr);
  return add(tokens_to_nchw(h, H, W), x);
}

VaeMidBlock::VaeMidBlock(ParamStore& ps, const std::string& n, int channels, int groups, bool attention)
    : res0_(ps, n + ".resnets.0", channels, channels, 0, groups, kVaeEps),
      res1_(ps, n + ".resnets.1", channels, channels, 0, groups, kVaeEps) {
  if (attention) attn_ = std::make_unique<VaeSelfAttention>(ps, n + ".attentions.0", channels, groups);
}

Tensor VaeMidBlock::forward(const Tensor& x) {
  const Tensor none;
  Tensor h = res0_.forward(x, none);
  if (attn_) h = attn_->forward(h);
  return res1_.forward(h, none);
}

VaeEncoder::VaeEncoder(ParamStore& ps, const VaeConfig& cfg) {
  const auto& boc = cfg.block_out_channels;
  const int nb = (int)boc.size(), groups = cfg.norm_num_groups;
  conv_in_ = Conv2d(ps, "encoder.conv_in", cfg.in_channels, boc[0], 3, 1, 1);
  int out = boc[0];
  for (int i = 0; i < nb; ++i) {
    const int in = out;
    out = boc[i];
    const std::string p = "encoder.down_blocks." + std::to_string(i);
    VaeLevel L;
    for (int j = 0; j < cfg.layers_per_block; ++j)
      L.resnets.push_back(vae_resnet(ps, p + ".resnets." + std::to_string(j), j == 0 ? in : out, out, groups));
    if (i < nb - 1) {
      L.has_sampler = true;
      L.sampler = Conv2d(ps, p + ".downsamplers.0.conv", out, out, 3, 2, 0);
    }
    down_.push_back(std::move(L));
  }
  mid_ = std::make_unique<VaeMidBlock>(ps, "encoder.mid_block", boc.back(), groups, cfg.mid_block_add_attention);
  norm_out_ = GroupNorm(ps, "encoder.conv_norm_out", groups, boc.back(), kVaeEps, NormActivation::kSiLU);
  conv_out_ = Conv2d(ps, "encoder.conv_out", boc.back(), 2 * cfg.latent_channels, 3, 1, 1);
}

Tensor VaeEncoder::forward(const Tensor& images) {
  const Tensor none;
  Tensor h = conv_in_.forward(images);
  for (auto& L : down_) {
    for (auto& r : L.resnets) h = r->forward(h, none);
    if (L.has_sampler) h = L.sampler.forward(pad_bottom_right_forward(h, 1, 1));
  }
  h = mid_->forward(h);
  return conv_out_.forward(norm_out_.forward(h));
}

VaeDecoder::VaeDecoder(ParamStore& ps, const VaeConfig& cfg) {
  const std::vector<int> rev(cfg.block_out_channels.rbegin(), cfg.block_out_channels.rend());
  const int nb = (int)rev.size(), groups = cfg.norm_num_groups;
  conv_in_ = Conv2d(ps, "decoder.conv_in", cfg.latent_channels, rev[0], 3, 1, 1);
  mid_ = std::make_unique<VaeMidBlock>(ps, "decoder.mid_block", rev[0], groups, cfg.mid_block_add_attention);
  int out = rev[0];
  for (int i = 0; i < nb; ++i) {
    const int in = out;
    out = rev[i];
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    VaeLevel L;
    for (int j = 0; j < cfg.layers_per_block + 1; ++j)
      L.resnets.push_back(vae_resnet(ps, p + ".resnets." + std::to_string(j), j == 0 ? in : out, out, groups));
    if (i < nb - 1) {
      L.has_sampler = true;
      L.sampler = Conv2d(ps, p + ".upsamplers.0.conv", out, out, 3, 1, 1);
    }
    up_.push_back(std::move(L));
  }
  norm_out_ = GroupNorm(ps, "decoder.conv_norm_out", groups, rev.back(), kVaeEps, NormActivation::kSiLU);
  conv_out_ = Conv2d(ps, "decoder.conv_out", rev.back(), cfg.out_channels, 3, 1, 1);
}

Tensor VaeDecoder::forward(const Tensor& z) {
  const Tensor none;
  Tensor h = mid_->forward(conv_in_.forward(z));
  for (auto& L : up_) {
    for (auto& r : L.resnets) h = r->forward(h, none);
    if (L.has_sampler) h = L.sampler.forward(upsample_nearest2x_forward(h));
  }
  return conv_out_.forward(norm_out_.forward(h));
}

AutoencoderKL::AutoencoderKL(const VaeConfig& cfg, uint64_t seed) : cfg_(cfg) {
  params_.set_seed(seed);
  encoder_ = std::make_unique<VaeEncoder>(params_, cfg);
  decoder_ = std::make_unique<VaeDecoder>(params_, cfg);
  const int L = cfg.latent_channels;
  if (cfg.use_quant_conv) quant_conv_ = Conv2d(params_, "quant_conv", 2 * L, 2 * L, 1, 1, 0);
  if (cfg.use_post_quant_conv) post_quant_conv_ = Conv2d(params_, "post_quant_conv", L, L, 1, 1, 0);
}

Tensor AutoencoderKL::decode(const Tensor& z) {
  if (z.ndim() != 4 || z.dim(1) != cfg_.latent_channels)
    throw std::invalid_argument("vae decode: latents must be [B," + std::to_string(cfg_.latent_channels) +
                                ",h,w], got " + shape_str(z.shape));
  NoGradGuard no_grad;
  return decoder_->forward(cfg_.use_post_quant_conv ? post_quant_conv_.forward(z) : z);
}

void AutoencoderKL::encode(const Tensor& images, Tensor* mean, Tensor* logvar) {
  const int64_t f = cfg_.downscale();
  if (images.ndim() != 4 || images.dim(1) != cfg_.in_channels)
    throw std::invalid_argument("vae encode: images must be [B," + std::to_string(cfg_.in_channels) + ",H,W], got " +
                                shape_str(images.shape));
  if (images.dim(2) % f || images.dim(3) % f)
    throw std::invalid_argument("vae encode: height and width must be multiples of " + std::to_string(f));
  NoGradGuard no_grad;
  Tensor moments = encoder_->forward(images);
  if (cfg_.use_quant_conv) moments = quant_conv_.forward(moments);
  if (moments.on_device()) moments = moments.to(Device::kCpu);  // split (and returned) on the host
  const int64_t B = moments.dim(0), L = cfg_.latent_channels, plane = L * moments.dim(2) * moments.dim(3);
  const Shape s{B, L, moments.dim(2), moments.dim(3)};
  *mean = Tensor(s);
  *logvar = Tensor(s);
  for (int64_t b = 0; b < B; ++b) {
    const float* m = moments.data() + b * 2 * plane;
    std::copy(m, m + plane, mean->data() + b * plane);
    std::transform(m + plane, m + 2 * plane, logvar->data() + b * plane,
                   [](float v) { return std::clamp(v, -30.f, 20.f); });
  }
}

std::string AutoencoderKL::current_key(const std::string& k) {
  static const std::pair<const char*, const char*> renames[] = {
      {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."}, {".proj_attn.", ".to_out.0."}};
  if (k.find(".attentions.") == std::string::npos) return k;
  for (const auto& [from, to] : renames) {
    const size_t at = k.find(from);
    if (at != std::string::npos) return k.substr(0, at) + to + k.substr(at + std::string(from).size());
  }
  return k;
}

}  // namespace cxrl
