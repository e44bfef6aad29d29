// The subset of diffusers' AutoencoderKL config.json that the engine implements (SD v1.x/v2.x
// VAEs: DownEncoderBlock2D/UpDecoderBlock2D, mid-block self-attention). Other values are refused
// with a message naming the key.
#pragma once
#include <string>
#include <vector>

#include "io/json.h"

namespace cxrl {

struct VaeConfig {
  int in_channels = 3, out_channels = 3, latent_channels = 4;
  std::vector<int> block_out_channels{64};
  int layers_per_block = 1;
  int norm_num_groups = 32;
  int sample_size = 32;             // the image size the VAE was trained on (pixels)
  float scaling_factor = 0.18215f;  // diffusion runs on latents * scaling_factor
  bool use_quant_conv = true, use_post_quant_conv = true, mid_block_add_attention = true;

  static VaeConfig from_json(const Json& j);  // throws std::invalid_argument naming the key
  Json to_json() const;
  // Pixels per latent along each side: 2^(number of blocks - 1).
  int downscale() const { return 1 << (block_out_channels.size() - 1); }
};

}  // namespace cxrl
