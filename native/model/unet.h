// UNet2DConditionModel: the trainable denoiser eps_theta(x_t, t, c), with diffusers' semantics and
// state-dict names. forward() caches activations; backward() fills every parameter gradient and
// returns the gradients for the input sample and for encoder_hidden_states (the latter is what the
// RL stage turns into ACE token updates).
#pragma once
#include <memory>
#include <vector>

#include "model/resnet_block.h"
#include "model/transformer.h"
#include "model/unet_config.h"
#include "ops/embedding.h"

namespace cxrl {

struct UNetGrads {
  Tensor sample;                 // [B,C,H,W]
  Tensor encoder_hidden_states;  // [B,L,D]
};

class UNet2DCondition {
 public:
  UNet2DCondition(const UNetConfig& cfg, uint64_t seed);
  ~UNet2DCondition();

  // sample [B,C,H,W], timestep [B], encoder_hidden_states [B,L,D], key mask [B,L] or null.
  Tensor forward(const Tensor& sample, const Tensor& timestep, const Tensor& encoder_hidden_states,
                 const Tensor* encoder_mask = nullptr);
  // Accumulates parameter gradients (call params().zero_grad() to reset).
  UNetGrads backward(const Tensor& grad_output);

  ParamStore& params() { return params_; }
  const UNetConfig& config() const { return cfg_; }
  // Freezes every weight and adds LoRA adapters of this rank to each attention's to_q, to_k, to_v
  // and to_out.0: from then on only the adapters are trainable. scale = lora_alpha / rank.
  void enable_lora(int rank, float scale);
  int lora_rank() const { return lora_rank_; }

 private:
  struct Level;  // one down or up block
  UNetConfig cfg_;
  ParamStore params_;
  Conv2d conv_in_, conv_out_;
  Linear time_linear_1_, time_linear_2_;
  SiLU time_act_;
  GroupNorm norm_out_;  // followed by SiLU (fused)
  TimestepEmbeddingSpec time_spec_;
  std::vector<std::unique_ptr<Level>> down_, up_;
  std::unique_ptr<ResnetBlock2D> mid_res0_, mid_res1_;
  std::unique_ptr<Transformer2D> mid_attn_;
  // Forward state needed by the backward.
  Tensor context_, mask_;
  bool has_mask_ = false;
  std::vector<int64_t> skip_channels_;  // channels of each skip tensor, in push order
  int64_t batch_ = 0;
  bool kept_for_backward_ = false;  // the last forward ran with gradients enabled
  int lora_rank_ = 0;
};

}  // namespace cxrl
