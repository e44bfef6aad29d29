#include "model/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "core/parallel.h"

namespace cxrl {

AdamOptimizer::AdamOptimizer(std::vector<Param*> params, AdamConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (Param* p : params_) {
    p->ensure_grad();
    m_.emplace_back(p->value.shape);
    v_.emplace_back(p->value.shape);
  }
}

void AdamOptimizer::step() {
  ++t_;
  const float b1 = cfg_.beta1, b2 = cfg_.beta2, lr = cfg_.lr, wd = cfg_.weight_decay, eps = cfg_.eps;
  const double bc1 = 1.0 - std::pow((double)b1, (double)t_), bc2 = 1.0 - std::pow((double)b2, (double)t_);
  const float step_size = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / std::sqrt(bc2));
  for (size_t k = 0; k < params_.size(); ++k) {
    float* p = params_[k]->value.data();
    const float* g = params_[k]->grad.data();
    float* m = m_[k].data();
    float* v = v_[k].data();
    const bool decoupled = cfg_.decoupled;
    parallel_for(params_[k]->value.numel(), 8192, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        float gi = g[i];
        if (decoupled)
          p[i] -= lr * wd * p[i];
        else
          gi += wd * p[i];
        m[i] = b1 * m[i] + (1.f - b1) * gi;
        v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
        p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
      }
    });
  }
}

std::map<std::string, const Tensor*> AdamOptimizer::state_tensors() const {
  std::map<std::string, const Tensor*> out;
  for (size_t k = 0; k < params_.size(); ++k) {
    out["exp_avg." + params_[k]->name] = &m_[k];
    out["exp_avg_sq." + params_[k]->name] = &v_[k];
  }
  return out;
}

void AdamOptimizer::load_state(const std::map<std::string, Tensor>& tensors, int64_t steps) {
  for (size_t k = 0; k < params_.size(); ++k) {
    for (auto [prefix, dst] : {std::pair<const char*, Tensor*>{"exp_avg.", &m_[k]}, {"exp_avg_sq.", &v_[k]}}) {
      auto it = tensors.find(prefix + params_[k]->name);
      if (it == tensors.end())
        throw std::invalid_argument(std::string("optimizer state lacks ") + prefix + params_[k]->name);
      check_same_shape(it->second, *dst, (std::string("optimizer state ") + prefix + params_[k]->name).c_str());
      *dst = it->second;
    }
  }
  t_ = steps;
}

double clip_grad_norm(const std::vector<Param*>& params, double max_norm) {
  double sq = 0;
  for (const Param* p : params)
    for (float g : p->grad.v) sq += (double)g * g;
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const float scale = (float)(max_norm / (norm + 1e-6));
    for (Param* p : params)
      for (float& g : p->grad.v) g *= scale;
  }
  return norm;
}

}  // namespace cxrl
