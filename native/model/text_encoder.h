// The built-in report encoder for models trained here: token and learned position embeddings,
// pre-LayerNorm transformer layers (self-attention that ignores padding keys, GELU MLP) and a final
// LayerNorm. Output [B, L, D] is the cross-attention context of the UNet. Trainable jointly with the
// UNet during pretraining (backward fills every parameter gradient), frozen afterwards.
#pragma once
#include <memory>
#include <vector>

#include "io/json.h"
#include "model/layers.h"
#include "model/transformer.h"

namespace cxrl {

struct TextEncoderConfig {
  int vocab_size = 0, max_length = 77, width = 64, layers = 2, heads = 4, mlp_ratio = 4;
  static TextEncoderConfig from_json(const Json& j);  // throws naming the key
  Json to_json() const;
};

class TextEncoder {
 public:
  TextEncoder(const TextEncoderConfig& cfg, uint64_t seed);
  ~TextEncoder();

  // ids [B, L] (L <= max_length), key mask [B, L] (nonzero = real token) -> [B, L, width].
  Tensor forward(const int32_t* ids, int64_t batch, int64_t length, const Tensor& mask);
  // Accumulates parameter gradients.
  void backward(const Tensor& grad_output);

  ParamStore& params() { return params_; }
  const TextEncoderConfig& config() const { return cfg_; }

 private:
  struct Layer;
  TextEncoderConfig cfg_;
  ParamStore params_;
  Param *token_embedding_ = nullptr, *position_embedding_ = nullptr;
  std::vector<std::unique_ptr<Layer>> layers_;
  LayerNorm final_norm_;
  std::vector<int32_t> ids_, positions_;  // kept for the backward
  int64_t batch_ = 0, length_ = 0;
};

}  // namespace cxrl
