#include "model/vae_config.h"

#include "model/config_reader.h"

namespace cxrl {
namespace {

// Every key of diffusers' AutoencoderKL config (v0.20-v0.31). Fixed: act_fn other than silu, and
// shift_factor / latents_mean / latents_std (SD3/SDXL-style latent normalisation) change the
// computation. Irrelevant: force_upcast asks for a float32 VAE, which the engine always runs.
const ConfigKeys& vae_keys() {
  static const ConfigKeys keys{
      {"in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels", "layers_per_block",
       "latent_channels", "norm_num_groups", "sample_size", "scaling_factor", "use_quant_conv", "use_post_quant_conv",
       "mid_block_add_attention"},
      {{"act_fn", Json::make_string("silu")},
       {"shift_factor", Json()},
       {"latents_mean", Json()},
       {"latents_std", Json()}},
      {"force_upcast"},
  };
  return keys;
}

}  // namespace

VaeConfig VaeConfig::from_json(const Json& j) {
  const ConfigReader r(j, "AutoencoderKL");
  VaeConfig c;
  c.in_channels = r.get_int("in_channels", c.in_channels);
  c.out_channels = r.get_int("out_channels", c.out_channels);
  c.latent_channels = r.get_int("latent_channels", c.latent_channels);
  if (r.has("block_out_channels")) c.block_out_channels = r.int_list("block_out_channels");
  const size_t nb = c.block_out_channels.size();
  if (nb == 0) throw r.bad("block_out_channels", "is empty");
  const std::vector<std::string> down = r.has("down_block_types") ? r.str_list("down_block_types")
                                                                  : std::vector<std::string>{"DownEncoderBlock2D"},
                                 up = r.has("up_block_types") ? r.str_list("up_block_types")
                                                              : std::vector<std::string>{"UpDecoderBlock2D"};
  if (down.size() != nb || up.size() != nb)
    throw r.bad("down_block_types", "and up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : down)
    if (t != "DownEncoderBlock2D") throw r.bad("down_block_types", "entry " + t + " is not supported");
  for (const auto& t : up)
    if (t != "UpDecoderBlock2D") throw r.bad("up_block_types", "entry " + t + " is not supported");
  c.layers_per_block = r.get_int("layers_per_block", c.layers_per_block);
  c.norm_num_groups = r.get_int("norm_num_groups", c.norm_num_groups);
  c.sample_size = r.get_int("sample_size", c.sample_size);
  c.scaling_factor = r.get_float("scaling_factor", c.scaling_factor);
  c.use_quant_conv = r.get_bool("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = r.get_bool("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = r.get_bool("mid_block_add_attention", c.mid_block_add_attention);
  r.audit(vae_keys());
  if (c.in_channels < 1 || c.out_channels < 1 || c.latent_channels < 1)
    throw r.bad("latent_channels", "and in_channels/out_channels must be positive");
  if (c.layers_per_block < 1) throw r.bad("layers_per_block", "must be positive");
  if (!(c.scaling_factor > 0)) throw r.bad("scaling_factor", "must be positive");
  for (int ch : c.block_out_channels)
    if (ch < 1 || ch % c.norm_num_groups) throw r.bad("norm_num_groups", "must divide every block_out_channels entry");
  return c;
}

Json VaeConfig::to_json() const {
  const size_t nb = block_out_channels.size();
  return Json::make_object({
      {"_class_name", Json::make_string("AutoencoderKL")},
      {"in_channels", Json::make_number(in_channels)},
      {"out_channels", Json::make_number(out_channels)},
      {"latent_channels", Json::make_number(latent_channels)},
      {"block_out_channels", json_ints(block_out_channels)},
      {"down_block_types", json_strs(std::vector<std::string>(nb, "DownEncoderBlock2D"))},
      {"up_block_types", json_strs(std::vector<std::string>(nb, "UpDecoderBlock2D"))},
      {"layers_per_block", Json::make_number(layers_per_block)},
      {"norm_num_groups", Json::make_number(norm_num_groups)},
      {"sample_size", Json::make_number(sample_size)},
      {"scaling_factor", Json::make_number(scaling_factor)},
      {"use_quant_conv", Json::make_bool(use_quant_conv)},
      {"use_post_quant_conv", Json::make_bool(use_post_quant_conv)},
      {"mid_block_add_attention", Json::make_bool(mid_block_add_attention)},
      {"act_fn", Json::make_string("silu")},
  });
}

}  // namespace cxrl
