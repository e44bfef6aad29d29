// The subset of diffusers' UNet2DConditionModel config.json that the engine implements.
// Unsupported options are rejected with a message naming the key, never silently ignored.
#pragma once
#include <string>
#include <vector>

#include "io/json.h"

namespace cxrl {

struct UNetConfig {
  int in_channels = 4, out_channels = 4, sample_size = 64;
  std::vector<int> block_out_channels{320, 640, 1280, 1280};
  std::vector<std::string> down_block_types, up_block_types;
  int layers_per_block = 2;
  std::vector<int> heads;  // per down block (diffusers' attention_head_dim / num_attention_heads)
  int cross_attention_dim = 1280;
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool use_linear_projection = false;
  bool flip_sin_to_cos = true;
  float freq_shift = 0.f;

  static UNetConfig from_json(const Json& j);  // throws std::invalid_argument naming the key
  Json to_json() const;                        // diffusers-style config.json
  int time_embed_dim() const { return block_out_channels.at(0) * 4; }
  static bool is_cross_attn_block(const std::string& type);
};

}  // namespace cxrl
