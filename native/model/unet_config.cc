#include "model/unet_config.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "model/config_reader.h"

namespace cxrl {
namespace {

// Every key of diffusers' UNet2DConditionModel config (v0.20-v0.27) is in one of three groups.
// Fixed keys are accepted only at the value diffusers' SD v1.x uses (null: only absent or null);
// they change the architecture in ways this engine does not implement: timestep_post_act,
// time_embedding_act_fn and time_embedding_dim change diffusers' time embedding (an activation
// after it, or inside its MLP). Irrelevant here: upcast_attention asks for float32 attention, which
// the engine always computes; addition_embed_type_num_heads only matters with an
// addition_embed_type (refused as a fixed key).
const ConfigKeys& unet_keys() {
  static const ConfigKeys keys{
      {"sample_size", "in_channels", "out_channels", "flip_sin_to_cos", "freq_shift", "down_block_types",
       "up_block_types", "block_out_channels", "layers_per_block", "norm_num_groups", "norm_eps", "cross_attention_dim",
       "attention_head_dim", "num_attention_heads", "use_linear_projection", "transformer_layers_per_block"},
      {
          {"mid_block_type", Json::make_string("UNetMidBlock2DCrossAttn")},
          {"act_fn", Json::make_string("silu")},
          {"center_input_sample", Json::make_bool(false)},
          {"time_embedding_type", Json::make_string("positional")},
          {"resnet_time_scale_shift", Json::make_string("default")},
          {"only_cross_attention", Json::make_bool(false)},
          {"dual_cross_attention", Json::make_bool(false)},
          {"downsample_padding", Json::make_number(1)},
          {"mid_block_scale_factor", Json::make_number(1)},
          {"conv_in_kernel", Json::make_number(3)},
          {"conv_out_kernel", Json::make_number(3)},
          {"class_embed_type", Json()},
          {"addition_embed_type", Json()},
          {"encoder_hid_dim", Json()},
          {"time_cond_proj_dim", Json()},
          {"num_class_embeds", Json()},
          {"timestep_post_act", Json()},
          {"time_embedding_act_fn", Json()},
          {"time_embedding_dim", Json()},
          {"class_embeddings_concat", Json::make_bool(false)},
          {"cross_attention_norm", Json()},
          {"attention_type", Json::make_string("default")},
          {"dropout", Json::make_number(0)},
          {"resnet_skip_time_act", Json::make_bool(false)},
          {"resnet_out_scale_factor", Json::make_number(1)},
          {"reverse_transformer_layers_per_block", Json()},
          {"encoder_hid_dim_type", Json()},
          {"addition_time_embed_dim", Json()},
          {"projection_class_embeddings_input_dim", Json()},
          {"mid_block_only_cross_attention", Json()},
      },
      {"upcast_attention", "addition_embed_type_num_heads"},
  };
  return keys;
}

}  // namespace

bool UNetConfig::is_cross_attn_block(const std::string& t) {
  return t == "CrossAttnDownBlock2D" || t == "CrossAttnUpBlock2D";
}

UNetConfig UNetConfig::from_json(const Json& j) {
  const ConfigReader r(j, "UNet2DConditionModel");
  UNetConfig c;
  c.in_channels = r.get_int("in_channels", 4);
  c.out_channels = r.get_int("out_channels", 4);
  c.sample_size = r.get_int("sample_size", 64);
  if (r.has("block_out_channels")) c.block_out_channels = r.int_list("block_out_channels");
  c.down_block_types = r.str_list("down_block_types");
  c.up_block_types = r.str_list("up_block_types");
  const size_t nb = c.block_out_channels.size();
  if (nb == 0) throw r.bad("block_out_channels", "is empty");
  if (c.down_block_types.size() != nb || c.up_block_types.size() != nb)
    throw r.bad("down_block_types", "and up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : c.down_block_types)
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      throw r.bad("down_block_types", "entry " + t + " is not supported");
  for (const auto& t : c.up_block_types)
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      throw r.bad("up_block_types", "entry " + t + " is not supported");
  if (r.has("layers_per_block") && r.at("layers_per_block").is_array())
    throw r.bad("layers_per_block", "must be one integer");
  c.layers_per_block = r.get_int("layers_per_block", 2);
  // diffusers reads num_attention_heads, falling back to attention_head_dim (a historical misnomer:
  // it is the number of heads; the head width is channels / heads).
  const char* heads_key = r.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
  if (r.has(heads_key) && r.at(heads_key).is_array())
    c.heads = r.int_list(heads_key);
  else
    c.heads.assign(nb, r.get_int(heads_key, 8));
  if (c.heads.size() != nb) throw r.bad(heads_key, "must have one entry per block");
  if (r.has("cross_attention_dim") && r.at("cross_attention_dim").is_array())
    throw r.bad("cross_attention_dim", "as a list is not supported");
  c.cross_attention_dim = r.get_int("cross_attention_dim", 1280);
  c.norm_num_groups = r.get_int("norm_num_groups", 32);
  c.norm_eps = r.get_float("norm_eps", c.norm_eps);
  c.use_linear_projection = r.get_bool("use_linear_projection", c.use_linear_projection);
  c.flip_sin_to_cos = r.get_bool("flip_sin_to_cos", c.flip_sin_to_cos);
  c.freq_shift = r.get_float("freq_shift", c.freq_shift);
  if (r.has("transformer_layers_per_block")) {
    const Json& t = r.at("transformer_layers_per_block");
    bool all_one = t.is_number() ? t.number() == 1 : true;
    if (t.is_array())
      for (const auto& e : t.array()) all_one = all_one && e.is_number() && e.number() == 1;
    if (!all_one) throw r.bad("transformer_layers_per_block", "other than 1 is not supported");
  }
  r.audit(unet_keys());
  for (size_t i = 0; i < nb; ++i) {
    const int ch = c.block_out_channels[i];
    if (ch % c.norm_num_groups) throw r.bad("norm_num_groups", "must divide every block_out_channels entry");
    if (ch % c.heads[i]) throw r.bad(heads_key, "must divide the block's channel count");
  }
  if (c.block_out_channels.back() % c.heads.back()) throw r.bad(heads_key, "must divide the mid block width");
  return c;
}

Json UNetConfig::to_json() const {
  return Json::make_object({
      {"_class_name", Json::make_string("UNet2DConditionModel")},
      {"in_channels", Json::make_number(in_channels)},
      {"out_channels", Json::make_number(out_channels)},
      {"sample_size", Json::make_number(sample_size)},
      {"block_out_channels", json_ints(block_out_channels)},
      {"down_block_types", json_strs(down_block_types)},
      {"up_block_types", json_strs(up_block_types)},
      {"mid_block_type", Json::make_string("UNetMidBlock2DCrossAttn")},
      {"layers_per_block", Json::make_number(layers_per_block)},
      {"attention_head_dim", json_ints(heads)},
      {"cross_attention_dim", Json::make_number(cross_attention_dim)},
      {"norm_num_groups", Json::make_number(norm_num_groups)},
      {"norm_eps", Json::make_number(norm_eps)},
      {"use_linear_projection", Json::make_bool(use_linear_projection)},
      {"flip_sin_to_cos", Json::make_bool(flip_sin_to_cos)},
      {"freq_shift", Json::make_number(freq_shift)},
      {"act_fn", Json::make_string("silu")},
  });
}

}  // namespace cxrl
