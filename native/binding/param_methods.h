// Parameter access shared by every trainable model class exposed to JavaScript (UNet, VAE,
// TextEncoder, ImageEncoder): listing, reading, writing, gradients, zeroing, safetensors load/save
// with exact name and shape matching, and (for the models that run on a device) toDevice/device. A model wrap derives
// from ParamMethods<Wrap> and provides `ParamStore& param_store()` and `void check_idle(Napi::Env) const`.
#pragma once
#include <napi.h>

#include <map>
#include <string>
#include <vector>

#include "binding/convert.h"
#include "io/safetensors.h"
#include "model/params.h"

namespace cxrl {

// Every model wrap registers with the optimizer through this interface.
class TrainableWrap {
 public:
  virtual ~TrainableWrap() = default;
  virtual ParamStore& param_store() = 0;
  virtual void check_idle(Napi::Env env) const = 0;
  // The parameter a weights-file key loads into (older files may use other names).
  virtual std::string param_name_for_file_key(const std::string& key) const { return key; }
};

template <class Wrap>
class ParamMethods : public Napi::ObjectWrap<Wrap>, public TrainableWrap {
 public:
  explicit ParamMethods(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Wrap>(info) {}

  // toDevice('cpu' | 'cuda') and device(): for models whose passes run on a device (UNet, VAE, the
  // text encoder).
  static std::vector<Napi::ClassPropertyDescriptor<Wrap>> device_methods() {
    return {
        Napi::ObjectWrap<Wrap>::InstanceMethod("toDevice", &ParamMethods::ToDevice),
        Napi::ObjectWrap<Wrap>::InstanceMethod("device", &ParamMethods::DeviceName),
    };
  }

  static std::vector<Napi::ClassPropertyDescriptor<Wrap>> param_methods() {
    return {
        Napi::ObjectWrap<Wrap>::InstanceMethod("paramInfo", &ParamMethods::ParamInfo),
        Napi::ObjectWrap<Wrap>::InstanceMethod("numParams", &ParamMethods::NumParams),
        Napi::ObjectWrap<Wrap>::InstanceMethod("getParam", &ParamMethods::GetParam),
        Napi::ObjectWrap<Wrap>::InstanceMethod("getGrad", &ParamMethods::GetGrad),
        Napi::ObjectWrap<Wrap>::InstanceMethod("setParam", &ParamMethods::SetParam),
        Napi::ObjectWrap<Wrap>::InstanceMethod("loadWeights", &ParamMethods::LoadWeights),
        Napi::ObjectWrap<Wrap>::InstanceMethod("saveWeights", &ParamMethods::SaveWeights),
        Napi::ObjectWrap<Wrap>::InstanceMethod("zeroGrad", &ParamMethods::ZeroGrad),
    };
  }

 private:
  // Moves the weights (and gradients) there; every later pass runs there. Throws, saying why, when
  // the device cannot be used (nothing moves then).
  void ToDevice(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "toDevice('cpu' | 'cuda')");
    try {
      this->param_store().to(parse_device(info[0].As<Napi::String>().Utf8Value()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), device_name(this->param_store().device()));
  }

  Param* param_arg(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "expected a parameter name");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    Param* p = this->param_store().find(name);
    if (!p) throw Napi::RangeError::New(info.Env(), "no parameter named " + name);
    return p;
  }

  Napi::Value ParamInfo(const Napi::CallbackInfo& info) {
    const auto& ps = this->param_store().all();
    Napi::Array a = Napi::Array::New(info.Env(), ps.size());
    for (size_t i = 0; i < ps.size(); ++i) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("name", ps[i]->name);
      o.Set("shape", shape_to_js(info.Env(), ps[i]->value.shape));
      a.Set((uint32_t)i, o);
    }
    return a;
  }

  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), (double)this->param_store().count());
  }

  Napi::Value GetParam(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    return tensor_to_js(info.Env(), param_arg(info)->value);
  }

  Napi::Value GetGrad(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    return tensor_to_js(info.Env(), param_arg(info)->ensure_grad());
  }

  void SetParam(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    Param* p = param_arg(info);
    if (info.Length() < 2) throw Napi::TypeError::New(info.Env(), "setParam(name, Float32Array)");
    p->value = tensor_from_array(info[1], p->value.shape, p->name).to(p->value.device);
  }

  void ZeroGrad(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    this->param_store().zero_grad();
  }

  // loadWeights(path): every parameter must be present with its exact shape; extra keys are an
  // error too, so a wrong config never half-loads. Names and shapes are checked from the header
  // before any data is read; each tensor is then read straight into its parameter (one copy of the
  // weights in memory, also for a multi-GB fp16 file). Returns the file's metadata.
  Napi::Value LoadWeights(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "loadWeights(path)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    try {
      const SafetensorsIndex index = read_safetensors_index(path);
      std::map<std::string, std::string> file_key;  // parameter name -> key in the file
      std::vector<std::string> missing, mismatched, unexpected;
      for (const auto& [key, entry] : index.tensors) {
        const std::string name = this->param_name_for_file_key(key);
        Param* p = this->param_store().find(name);
        if (!p || file_key.count(name))
          unexpected.push_back(key);
        else if (entry.shape != p->value.shape)
          mismatched.push_back(key + " " + shape_str(entry.shape) + " (model " + shape_str(p->value.shape) + ")");
        file_key[name] = key;
      }
      for (const auto& p : this->param_store().all())
        if (!file_key.count(p->name)) missing.push_back(p->name);
      if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
        auto list = [](const std::vector<std::string>& v) {
          std::string s;
          for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
          if (v.size() > 5) s += ", ... (" + std::to_string(v.size()) + " in all)";
          return s;
        };
        std::string msg = path + ": weights do not match the model config:";
        if (!missing.empty()) msg += " missing " + list(missing) + ";";
        if (!mismatched.empty()) msg += " wrong shape " + list(mismatched) + ";";
        if (!unexpected.empty()) msg += " unexpected " + list(unexpected) + ";";
        throw std::runtime_error(msg);
      }
      for (const auto& p : this->param_store().all()) {
        if (!p->value.on_device()) {
          read_safetensors_tensor(index, file_key.at(p->name), p->value.data());
          continue;
        }
        Tensor host = Tensor::uninitialized(p->value.shape);  // one tensor at a time through the host
        read_safetensors_tensor(index, file_key.at(p->name), host.data());
        p->value = host.to(p->value.device);
      }
      Napi::Object meta = Napi::Object::New(info.Env());
      for (const auto& [k, v] : index.metadata) meta.Set(k, v);
      return meta;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  void SaveWeights(const Napi::CallbackInfo& info) {
    this->check_idle(info.Env());
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "saveWeights(path)");
    std::map<std::string, const Tensor*> ts;
    for (const auto& p : this->param_store().all()) ts[p->name] = &p->value;
    try {
      write_safetensors(info[0].As<Napi::String>().Utf8Value(), ts, {{"format", "pt"}});
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
};

// The model behind a JS object of any trainable class, or null.
TrainableWrap* unwrap_trainable(const Napi::Value& v);

}  // namespace cxrl
