#include "model/params.h"

#include <cmath>
#include <stdexcept>

#include "core/parallel.h"
#include "core/philox.h"
#include "model/optimizer.h"

namespace cxrl {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

Param* ParamStore::add(const std::string& name, Shape shape, Init init, int64_t fan_in) {
  if (by_name_.count(name)) throw std::logic_error("duplicate parameter " + name);
  auto p = std::make_unique<Param>();
  p->name = name;
  p->value = Tensor(shape, init == Init::kOnes ? 1.f : 0.f);
  if (init == Init::kUniformFanIn) {
    const float bound = 1.f / std::sqrt((float)std::max<int64_t>(1, fan_in));
    const uint64_t stream = fnv1a(name);
    float* v = p->value.data();
    const uint64_t seed = seed_;
    parallel_for(p->value.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {  // each value keyed by its index
      for (int64_t i = i0; i < i1; ++i) {
        Philox4 r = philox4x32_10({{(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}},
                                  (uint32_t)seed, (uint32_t)(seed >> 32));
        v[i] = (2.f * uint_to_unit(r.x[0]) - 1.f) * bound;
      }
    });
  }
  Param* raw = p.get();
  by_name_[name] = raw;
  params_.push_back(std::move(p));
  return raw;
}

Param* ParamStore::find(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void ParamStore::zero_grad() {
  std::vector<Tensor*> grads;
  for (auto& p : params_)
    if (p->trainable) grads.push_back(&p->ensure_grad());
  zero_grads(grads);
}

void ParamStore::ensure_grads() {
  for (auto& p : params_)
    if (p->trainable) p->ensure_grad();
}

void ParamStore::freeze_all() {
  for (auto& p : params_) p->trainable = false;
}

void ParamStore::to(Device d) {
  for (auto& p : params_) {
    if (p->value.device != d) p->value = p->value.to(d);
    if (!p->grad.empty() && p->grad.device != d) p->grad = p->grad.to(d);
  }
}

int64_t ParamStore::count() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->value.numel();
  return n;
}

}  // namespace cxrl
