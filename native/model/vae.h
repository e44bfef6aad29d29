// AutoencoderKL: the VAE of Stable-Diffusion-class (latent) pipelines, with diffusers' semantics and
// state-dict names (encoder.*, decoder.*, quant_conv, post_quant_conv). Forward only: generation
// and RL decode latents to images (DDPO does not backpropagate through the reward), and latent
// pretraining encodes images. Both passes run in inference mode (nothing kept for a backward).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/resnet_block.h"
#include "model/transformer.h"
#include "model/vae_config.h"

namespace cxrl {

// The mid block's spatial self-attention (diffusers Attention with group_norm, one head of the full
// width, biased q/k/v, and a residual): x + to_out(attention(group_norm(x) as tokens)).
class VaeSelfAttention {
 public:
  VaeSelfAttention(ParamStore& ps, const std::string& name, int channels, int groups);
  Tensor forward(const Tensor& x);

 private:
  GroupNorm norm_;
  AttentionLayer attn_;
};

// UNetMidBlock2D without a time embedding: resnet, optional self-attention, resnet.
class VaeMidBlock {
 public:
  VaeMidBlock(ParamStore& ps, const std::string& name, int channels, int groups, bool attention);
  Tensor forward(const Tensor& x);

 private:
  ResnetBlock2D res0_, res1_;
  std::unique_ptr<VaeSelfAttention> attn_;
};

// One DownEncoderBlock2D or UpDecoderBlock2D: resnets, then an optional resampler (encoder: zero
// pad bottom/right, stride-2 3x3 conv; decoder: nearest 2x, 3x3 conv).
struct VaeLevel {
  std::vector<std::unique_ptr<ResnetBlock2D>> resnets;
  bool has_sampler = false;
  Conv2d sampler;
};

class VaeEncoder {
 public:
  VaeEncoder(ParamStore& ps, const VaeConfig& cfg);
  Tensor forward(const Tensor& images);  // [B,in,H,W] -> [B,2*latent,H/f,W/f] (mean and log-variance)

 private:
  Conv2d conv_in_, conv_out_;
  std::vector<VaeLevel> down_;
  std::unique_ptr<VaeMidBlock> mid_;
  GroupNorm norm_out_;  // followed by SiLU (fused)
};

class VaeDecoder {
 public:
  VaeDecoder(ParamStore& ps, const VaeConfig& cfg);
  Tensor forward(const Tensor& z);  // [B,latent,h,w] -> [B,out,h*f,w*f]

 private:
  Conv2d conv_in_, conv_out_;
  std::vector<VaeLevel> up_;
  std::unique_ptr<VaeMidBlock> mid_;
  GroupNorm norm_out_;  // followed by SiLU (fused)
};

class AutoencoderKL {
 public:
  AutoencoderKL(const VaeConfig& cfg, uint64_t seed);

  // diffusers' AutoencoderKL.decode(z).sample: post_quant_conv, then the decoder. z is the raw
  // latent (a pipeline divides its diffusion latents by scaling_factor first).
  Tensor decode(const Tensor& z);
  // The encoder's diagonal Gaussian after quant_conv; logvar clamped to [-30, 20] as diffusers'
  // DiagonalGaussianDistribution does.
  void encode(const Tensor& images, Tensor* mean, Tensor* logvar);

  ParamStore& params() { return params_; }
  const VaeConfig& config() const { return cfg_; }
  // Maps the attention names of older diffusers VAE files (query, key, value, proj_attn) to
  // today's (to_q, to_k, to_v, to_out.0); other names are returned unchanged.
  static std::string current_key(const std::string& file_key);

 private:
  VaeConfig cfg_;
  ParamStore params_;
  std::unique_ptr<VaeEncoder> encoder_;
  std::unique_ptr<VaeDecoder> decoder_;
  Conv2d quant_conv_, post_quant_conv_;
};

}  // namespace cxrl
