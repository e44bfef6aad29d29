#include "model/unet_config.h"

#include <stdexcept>
#include <utility>
#include <vector>

namespace cxrl {
namespace {

std::invalid_argument bad(const std::string& key, const std::string& why) {
  return std::invalid_argument("config.json: \"" + key + "\" " + why);
}

int get_int(const Json& j, const char* key, int dflt) {
  if (!j.has(key) || j.at(key).is_null()) return dflt;
  if (!j.at(key).is_number()) throw bad(key, "must be a number");
  return (int)j.at(key).number();
}

std::vector<int> int_list(const Json& v, const char* key) {
  std::vector<int> out;
  if (!v.is_array()) throw bad(key, "must be a list of integers");
  for (const auto& e : v.array()) out.push_back((int)e.number());
  return out;
}

std::vector<std::string> str_list(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.has(key)) throw bad(key, "is missing");
  for (const auto& e : j.at(key).array()) out.push_back(e.str());
  return out;
}

// Options that change the architecture in ways this engine does not implement: reject any
// value other than the default.
void require_default(const Json& j, const char* key, const Json& expected_or_null) {
  if (!j.has(key) || j.at(key).is_null()) return;
  const Json& v = j.at(key);
  bool ok = false;
  if (expected_or_null.is_null())
    ok = false;
  else if (expected_or_null.is_bool())
    ok = v.is_bool() && v.boolean() == expected_or_null.boolean();
  else if (expected_or_null.is_number())
    ok = v.is_number() && v.number() == expected_or_null.number();
  else if (expected_or_null.is_string())
    ok = v.is_string() && v.str() == expected_or_null.str();
  if (!ok) throw bad(key, "= " + v.dump() + " is not supported by this engine");
}

// Every key of diffusers' UNet2DConditionModel config (v0.20-v0.27) is in one of three lists;
// any other key is refused by name, so nothing is accepted and silently ignored.
const char* const kImplementedKeys[] = {"sample_size",
                                        "in_channels",
                                        "out_channels",
                                        "flip_sin_to_cos",
                                        "freq_shift",
                                        "down_block_types",
                                        "up_block_types",
                                        "block_out_channels",
                                        "layers_per_block",
                                        "norm_num_groups",
                                        "norm_eps",
                                        "cross_attention_dim",
                                        "attention_head_dim",
                                        "num_attention_heads",
                                        "use_linear_projection",
                                        "transformer_layers_per_block"};

// Keys accepted only at the value diffusers' SD v1.x uses (null: only absent or null). They change
// the architecture in ways this engine does not implement; timestep_post_act,
// time_embedding_act_fn and time_embedding_dim change diffusers' time embedding (an activation
// after it, or inside its MLP).
const std::vector<std::pair<const char*, Json>>& fixed_keys() {
  static const std::vector<std::pair<const char*, Json>> keys = {
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
  };
  return keys;
}

// Irrelevant here: upcast_attention asks for float32 attention, which the engine always computes;
// addition_embed_type_num_heads only matters with an addition_embed_type (refused above).
const char* const kIrrelevantKeys[] = {"upcast_attention", "addition_embed_type_num_heads"};

bool is_known_key(const std::string& key) {
  for (const char* k : kImplementedKeys)
    if (key == k) return true;
  for (const auto& [k, expected] : fixed_keys())
    if (key == k) return true;
  for (const char* k : kIrrelevantKeys)
    if (key == k) return true;
  return key.rfind('_', 0) == 0;  // _class_name, _diffusers_version, _name_or_path
}

}  // namespace

bool UNetConfig::is_cross_attn_block(const std::string& t) {
  return t == "CrossAttnDownBlock2D" || t == "CrossAttnUpBlock2D";
}

UNetConfig UNetConfig::from_json(const Json& j) {
  if (!j.is_object()) throw std::invalid_argument("config.json: expected a JSON object");
  UNetConfig c;
  c.in_channels = get_int(j, "in_channels", 4);
  c.out_channels = get_int(j, "out_channels", 4);
  c.sample_size = get_int(j, "sample_size", 64);
  if (j.has("block_out_channels")) c.block_out_channels = int_list(j.at("block_out_channels"), "block_out_channels");
  c.down_block_types = str_list(j, "down_block_types");
  c.up_block_types = str_list(j, "up_block_types");
  const size_t nb = c.block_out_channels.size();
  if (nb == 0) throw bad("block_out_channels", "is empty");
  if (c.down_block_types.size() != nb || c.up_block_types.size() != nb)
    throw bad("down_block_types", "and up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : c.down_block_types)
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      throw bad("down_block_types", "entry " + t + " is not supported");
  for (const auto& t : c.up_block_types)
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D") throw bad("up_block_types", "entry " + t + " is not supported");
  if (j.has("layers_per_block") && j.at("layers_per_block").is_array())
    throw bad("layers_per_block", "must be one integer");
  c.layers_per_block = get_int(j, "layers_per_block", 2);
  // diffusers reads num_attention_heads, falling back to attention_head_dim (a historical misnomer:
  // it is the number of heads; the head width is channels / heads).
  const char* heads_key = (j.has("num_attention_heads") && !j.at("num_attention_heads").is_null())
                              ? "num_attention_heads"
                              : "attention_head_dim";
  if (j.has(heads_key) && j.at(heads_key).is_array())
    c.heads = int_list(j.at(heads_key), heads_key);
  else
    c.heads.assign(nb, get_int(j, heads_key, 8));
  if (c.heads.size() != nb) throw bad(heads_key, "must have one entry per block");
  if (j.has("cross_attention_dim") && j.at("cross_attention_dim").is_array())
    throw bad("cross_attention_dim", "as a list is not supported");
  c.cross_attention_dim = get_int(j, "cross_attention_dim", 1280);
  c.norm_num_groups = get_int(j, "norm_num_groups", 32);
  if (j.has("norm_eps")) c.norm_eps = (float)j.at("norm_eps").number();
  if (j.has("use_linear_projection")) c.use_linear_projection = j.at("use_linear_projection").boolean();
  if (j.has("flip_sin_to_cos")) c.flip_sin_to_cos = j.at("flip_sin_to_cos").boolean();
  if (j.has("freq_shift")) c.freq_shift = (float)j.at("freq_shift").number();
  if (j.has("transformer_layers_per_block")) {
    const Json& t = j.at("transformer_layers_per_block");
    bool all_one = t.is_number() ? t.number() == 1 : true;
    if (t.is_array())
      for (const auto& e : t.array()) all_one = all_one && e.is_number() && e.number() == 1;
    if (!all_one) throw bad("transformer_layers_per_block", "other than 1 is not supported");
  }
  for (const auto& [key, expected] : fixed_keys()) require_default(j, key, expected);
  for (const auto& [key, value] : j.object())
    if (!is_known_key(key))
      throw bad(key, "is not a UNet2DConditionModel config key this engine knows; refusing to ignore it");
  for (size_t i = 0; i < nb; ++i) {
    const int ch = c.block_out_channels[i];
    if (ch % c.norm_num_groups) throw bad("norm_num_groups", "must divide every block_out_channels entry");
    if (ch % c.heads[i]) throw bad(heads_key, "must divide the block's channel count");
  }
  if (c.block_out_channels.back() % c.heads.back()) throw bad(heads_key, "must divide the mid block width");
  return c;
}

Json UNetConfig::to_json() const {
  auto ints = [](const std::vector<int>& v) {
    std::vector<Json> a;
    for (int x : v) a.push_back(Json::make_number(x));
    return Json::make_array(a);
  };
  auto strs = [](const std::vector<std::string>& v) {
    std::vector<Json> a;
    for (const auto& x : v) a.push_back(Json::make_string(x));
    return Json::make_array(a);
  };
  return Json::make_object({
      {"_class_name", Json::make_string("UNet2DConditionModel")},
      {"in_channels", Json::make_number(in_channels)},
      {"out_channels", Json::make_number(out_channels)},
      {"sample_size", Json::make_number(sample_size)},
      {"block_out_channels", ints(block_out_channels)},
      {"down_block_types", strs(down_block_types)},
      {"up_block_types", strs(up_block_types)},
      {"mid_block_type", Json::make_string("UNetMidBlock2DCrossAttn")},
      {"layers_per_block", Json::make_number(layers_per_block)},
      {"attention_head_dim", ints(heads)},
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
