#include "model/text_encoder.h"

#include <stdexcept>

#include "ops/activation.h"
#include "ops/lookup.h"
#include "ops/shape_ops.h"

namespace cxrl {

TextEncoderConfig TextEncoderConfig::from_json(const Json& j) {
  TextEncoderConfig c;
  auto get = [&](const char* key, int& dst, bool required) {
    if (!j.has(key)) {
      if (required) throw std::invalid_argument(std::string("text encoder config: \"") + key + "\" is missing");
      return;
    }
    const double v = j.at(key).number();
    if (v < 1 || v != (int)v)
      throw std::invalid_argument(std::string("text encoder config: \"") + key + "\" must be a positive integer");
    dst = (int)v;
  };
  get("vocab_size", c.vocab_size, true);
  get("max_length", c.max_length, false);
  get("width", c.width, false);
  get("layers", c.layers, false);
  get("heads", c.heads, false);
  get("mlp_ratio", c.mlp_ratio, false);
  if (c.width % c.heads) throw std::invalid_argument("text encoder config: heads must divide width");
  return c;
}

Json TextEncoderConfig::to_json() const {
  auto n = [](int v) { return Json::make_number(v); };
  return Json::make_object({{"vocab_size", n(vocab_size)},
                            {"max_length", n(max_length)},
                            {"width", n(width)},
                            {"layers", n(layers)},
                            {"heads", n(heads)},
                            {"mlp_ratio", n(mlp_ratio)}});
}

// x + attn(norm1(x)); then h + fc2(gelu(fc1(norm2(h)))).
struct TextEncoder::Layer {
  LayerNorm norm1, norm2;
  AttentionLayer attn;
  Linear fc1, fc2;
  Tensor fc1_out;
  Layer(ParamStore& ps, const std::string& n, const TextEncoderConfig& c)
      : norm1(ps, n + ".norm1", c.width, 1e-5f),
        norm2(ps, n + ".norm2", c.width, 1e-5f),
        attn(ps, n + ".attn", c.width, c.width, c.heads),
        fc1(ps, n + ".mlp.fc1", c.width, c.width * c.mlp_ratio, true),
        fc2(ps, n + ".mlp.fc2", c.width * c.mlp_ratio, c.width, true) {}

  Tensor forward(const Tensor& x, const Tensor& mask) {
    Tensor h = add(attn.forward(norm1.forward(x), nullptr, &mask), x);
    fc1_out = fc1.forward(norm2.forward(h));
    return add(fc2.forward(gelu_forward(fc1_out)), h);
  }
  Tensor backward(const Tensor& gy) {
    Tensor g = gy;
    add_inplace(&g, norm2.backward(fc1.backward(gelu_backward(fc1_out, fc2.backward(gy)))));
    Tensor gx = g;
    add_inplace(&gx, norm1.backward(attn.backward(g, nullptr)));
    return gx;
  }
};

TextEncoder::TextEncoder(const TextEncoderConfig& cfg, uint64_t seed) : cfg_(cfg) {
  if (cfg.vocab_size < 1) throw std::invalid_argument("text encoder: vocab_size must be positive");
  params_.set_seed(seed);
  // Embeddings: N(0, 0.02)-like scale via the uniform init with a large fan-in.
  token_embedding_ = params_.add("token_embedding.weight", {cfg.vocab_size, cfg.width}, Init::kUniformFanIn, 800);
  position_embedding_ = params_.add("position_embedding.weight", {cfg.max_length, cfg.width}, Init::kUniformFanIn, 800);
  for (int i = 0; i < cfg.layers; ++i)
    layers_.push_back(std::make_unique<Layer>(params_, "layers." + std::to_string(i), cfg));
  final_norm_ = LayerNorm(params_, "final_norm", cfg.width, 1e-5f);
}

TextEncoder::~TextEncoder() = default;

Tensor TextEncoder::forward(const int32_t* ids, int64_t B, int64_t L, const Tensor& mask) {
  if (L < 1 || L > cfg_.max_length)
    throw std::invalid_argument("text encoder: length " + std::to_string(L) + " outside [1, " +
                                std::to_string(cfg_.max_length) + "]");
  if (mask.shape != Shape{B, L}) throw std::invalid_argument("text encoder: mask must be [B, L]");
  ids_.assign(ids, ids + B * L);
  batch_ = B;
  length_ = L;
  // Token and position embeddings: both lookups (positions 0..L-1 for every sample), added.
  positions_.resize(B * L);
  for (int64_t i = 0; i < B * L; ++i) positions_[i] = (int32_t)(i % L);
  const int64_t D = cfg_.width;
  Tensor x = add(embedding_lookup_forward(ids, B * L, token_embedding_->value),
                 embedding_lookup_forward(positions_.data(), B * L, position_embedding_->value))
                 .reshaped({B, L, D});
  for (auto& layer : layers_) x = layer->forward(x, mask);
  return final_norm_.forward(x);
}

void TextEncoder::backward(const Tensor& grad_output) {
  if (batch_ == 0) throw std::logic_error("text encoder: backward called before forward");
  params_.ensure_grads();
  Tensor g = final_norm_.backward(grad_output);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) g = (*it)->backward(g);
  embedding_lookup_backward(ids_.data(), batch_ * length_, g, &token_embedding_->grad);  // g: [B*L rows, D]
  embedding_lookup_backward(positions_.data(), batch_ * length_, g, &position_embedding_->grad);
}

}  // namespace cxrl
