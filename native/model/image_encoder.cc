#include "model/image_encoder.h"

#include <stdexcept>
#include <string>

namespace cxrl {

ImageEncoderConfig ImageEncoderConfig::from_json(const Json& j) {
  ImageEncoderConfig c;
  auto bad = [](const std::string& key, const std::string& why) {
    return std::invalid_argument("image encoder config: \"" + key + "\" " + why);
  };
  auto get = [&](const char* key, int& dst) {
    if (!j.has(key)) return;
    const double v = j.at(key).number();
    if (v < 1 || v != (int)v) throw bad(key, "must be a positive integer");
    dst = (int)v;
  };
  get("in_channels", c.in_channels);
  get("image_size", c.image_size);
  get("out_dim", c.out_dim);
  get("groups", c.groups);
  if (j.has("channels")) {
    const Json& a = j.at("channels");
    if (!a.is_array() || a.array().empty()) throw bad("channels", "must be a non-empty list of integers");
    c.channels.clear();
    for (const Json& e : a.array()) {
      if (!e.is_number()) throw bad("channels", "must be a non-empty list of integers");
      const double v = e.number();
      if (v < 1 || v != (int)v) throw bad("channels", "must be a non-empty list of integers");
      c.channels.push_back((int)v);
    }
  }
  for (int ch : c.channels)
    if (ch % c.groups) throw bad("groups", "must divide every channels entry");
  if (c.image_size % (1 << c.channels.size())) throw bad("image_size", "must be divisible by 2^(number of stages)");
  return c;
}

Json ImageEncoderConfig::to_json() const {
  auto n = [](int v) { return Json::make_number(v); };
  std::vector<Json> ch;
  for (int c : channels) ch.push_back(n(c));
  return Json::make_object({{"in_channels", n(in_channels)},
                            {"image_size", n(image_size)},
                            {"out_dim", n(out_dim)},
                            {"groups", n(groups)},
                            {"channels", Json::make_array(ch)}});
}

struct ImageEncoder::Stage {
  Conv2d conv;
  GroupNorm norm;
  SiLU act;
  Stage(ParamStore& ps, const std::string& n, int in, int out, int groups)
      : conv(ps, n + ".conv", in, out, 3, 2, 1), norm(ps, n + ".norm", groups, out, 1e-5f) {}
  Tensor forward(const Tensor& x) { return act.forward(norm.forward(conv.forward(x))); }
  Tensor backward(const Tensor& g) { return conv.backward(norm.backward(act.backward(g))); }
};

ImageEncoder::ImageEncoder(const ImageEncoderConfig& cfg, uint64_t seed) : cfg_(cfg) {
  params_.set_seed(seed);
  int in = cfg.in_channels;
  for (size_t i = 0; i < cfg.channels.size(); ++i) {
    stages_.push_back(std::make_unique<Stage>(params_, "stages." + std::to_string(i), in, cfg.channels[i], cfg.groups));
    in = cfg.channels[i];
  }
  const int s = cfg.final_size();
  head_ = Linear(params_, "head", in * s * s, cfg.out_dim, true);
}

ImageEncoder::~ImageEncoder() = default;

Tensor ImageEncoder::forward(const Tensor& x) {
  const int S = cfg_.image_size;
  if (x.shape.size() != 4 || x.shape[1] != cfg_.in_channels || x.shape[2] != S || x.shape[3] != S)
    throw std::invalid_argument("image encoder: input must be [B, " + std::to_string(cfg_.in_channels) + ", " +
                                std::to_string(S) + ", " + std::to_string(S) + "]");
  Tensor h = x;
  for (auto& st : stages_) h = st->forward(h);
  feature_shape_ = h.shape;
  return head_.forward(h.reshaped({h.shape[0], h.numel() / h.shape[0]}));
}

Tensor ImageEncoder::backward(const Tensor& grad_output) {
  if (feature_shape_.empty()) throw std::logic_error("image encoder: backward called before forward");
  params_.ensure_grads();
  Tensor g = head_.backward(grad_output).reshaped(feature_shape_);
  for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) g = (*it)->backward(g);
  return g;
}

}  // namespace cxrl
