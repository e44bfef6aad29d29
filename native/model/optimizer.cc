#include "model/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "core/parallel.h"
#include "model/training_device_ops.h"

namespace cxrl {

AdamOptimizer::AdamOptimizer(std::vector<Param*> params, AdamConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (Param* p : params_) {
    p->ensure_grad();
    m_.push_back(Tensor::zeros(p->value.shape, p->value.device));
    v_.push_back(Tensor::zeros(p->value.shape, p->value.device));
  }
}

AdamStepScalars adam_step_scalars(const AdamConfig& c, int64_t t) {
  const double bc1 = 1.0 - std::pow((double)c.beta1, (double)t), bc2 = 1.0 - std::pow((double)c.beta2, (double)t);
  return {c.lr,       c.weight_decay, c.beta1, c.beta2, c.eps, (float)(c.lr / bc1), (float)(1.0 / std::sqrt(bc2)),
          c.decoupled};
}

namespace {

void adam_update_on_cpu(const AdamStepScalars& k, const AdamTensors& t) {
  float* p = t.param->data();
  const float* g = t.grad->data();
  float* m = t.exp_avg->data();
  float* v = t.exp_avg_sq->data();
  parallel_for(t.param->numel(), 8192, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      float gi = g[i];
      if (k.decoupled)
        p[i] -= k.lr * k.weight_decay * p[i];
      else
        gi += k.weight_decay * p[i];
      m[i] = k.beta1 * m[i] + (1.f - k.beta1) * gi;
      v[i] = k.beta2 * v[i] + (1.f - k.beta2) * gi * gi;
      p[i] -= k.step_size * m[i] / (std::sqrt(v[i]) * k.inv_sqrt_bc2 + k.eps);
    }
  });
}

}  // namespace

void adam_update(const AdamStepScalars& k, const std::vector<AdamTensors>& tensors) {
  std::vector<const Tensor*> all;
  for (const AdamTensors& t : tensors) all.insert(all.end(), {t.param, t.grad, t.exp_avg, t.exp_avg_sq});
  if (const TrainingDeviceOps* device = training_device_ops(all, "adam")) return device->adam_step(k, tensors);
  for (const AdamTensors& t : tensors) adam_update_on_cpu(k, t);
}

void AdamOptimizer::step() {
  const AdamStepScalars k = adam_step_scalars(cfg_, ++t_);
  std::vector<AdamTensors> tensors;
  for (size_t j = 0; j < params_.size(); ++j) {
    Tensor& value = params_[j]->value;
    if (m_[j].device != value.device) {  // the moments follow their parameter (ParamStore::to)
      m_[j] = m_[j].to(value.device);
      v_[j] = v_[j].to(value.device);
    }
    tensors.push_back({&value, &params_[j]->grad, &m_[j], &v_[j]});
  }
  adam_update(k, tensors);
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

double grad_sum_squares(const std::vector<const Tensor*>& grads) {
  if (const TrainingDeviceOps* device = training_device_ops(grads, "clip_grad_norm")) return device->sum_squares(grads);
  double sq = 0;
  for (const Tensor* g : grads)
    for (float x : g->v) sq += (double)x * x;
  return sq;
}

void scale_grads(const std::vector<Tensor*>& grads, float s) {
  if (const TrainingDeviceOps* device = training_device_ops({grads.begin(), grads.end()}, "clip_grad_norm"))
    return device->scale(grads, s);
  for (Tensor* g : grads)
    for (float& x : g->v) x *= s;
}

void zero_grads(const std::vector<Tensor*>& grads) {
  if (const TrainingDeviceOps* device = training_device_ops({grads.begin(), grads.end()}, "zero_grad"))
    return device->zero(grads);
  for (Tensor* g : grads) g->zero();
}

double clip_grad_norm(const std::vector<Param*>& params, double max_norm) {
  std::vector<Tensor*> grads;
  for (Param* p : params) grads.push_back(&p->grad);
  const double norm = std::sqrt(grad_sum_squares({grads.begin(), grads.end()}));
  if (max_norm > 0 && norm > max_norm) scale_grads(grads, (float)(max_norm / (norm + 1e-6)));
  return norm;
}

}  // namespace cxrl
