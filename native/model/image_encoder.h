// The compact CNN behind the default reward models (posture regressor, finding classifier, image
// tower of the report-image dual encoder): stages of Conv3x3 (stride 2, padding 1) -> GroupNorm ->
// SiLU, then the final feature map flattened (keeping where things are, which posture needs) into
// a Linear head. [B, C, S, S] -> [B, out_dim]. Every op has an ONNX twin (the exporter in
// src/onnx/export-image-encoder.ts writes the same graph from these parameters).
#pragma once
#include <memory>
#include <vector>

#include "io/json.h"
#include "model/layers.h"

namespace cxrl {

struct ImageEncoderConfig {
  int in_channels = 1, image_size = 64, out_dim = 14, groups = 8;
  std::vector<int> channels{16, 32, 64, 64};
  static ImageEncoderConfig from_json(const Json& j);  // throws naming the key
  Json to_json() const;
  int final_size() const { return image_size >> channels.size(); }
};

class ImageEncoder {
 public:
  ImageEncoder(const ImageEncoderConfig& cfg, uint64_t seed);
  ~ImageEncoder();
  // x [B, in_channels, image_size, image_size] -> [B, out_dim]
  Tensor forward(const Tensor& x);
  // Accumulates parameter gradients; returns d/dx.
  Tensor backward(const Tensor& grad_output);

  ParamStore& params() { return params_; }
  const ImageEncoderConfig& config() const { return cfg_; }

 private:
  struct Stage;
  ImageEncoderConfig cfg_;
  ParamStore params_;
  std::vector<std::unique_ptr<Stage>> stages_;
  Linear head_;
  Shape feature_shape_;
};

}  // namespace cxrl
