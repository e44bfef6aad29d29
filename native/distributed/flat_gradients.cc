#include "distributed/flat_gradients.h"

#include <cstring>
#include <stdexcept>

#include "core/backend.h"
#include "model/optimizer.h"

namespace cxrl {
namespace {

// n values between two tensors on one device, at offsets.
void copy_values(Tensor& dst, int64_t dst_offset, const Tensor& src, int64_t src_offset, int64_t n) {
  if (!dst.on_device()) {
    std::memcpy(dst.data() + dst_offset, src.data() + src_offset, n * sizeof(float));
    return;
  }
  dst.mutable_device_data();  // a storage shared with another tensor is cloned before the write
  require_backend(dst.device).copy(*dst.storage, dst_offset, *src.storage, src_offset, n);
}

}  // namespace

FlatGradients::FlatGradients(std::vector<Param*> params) : params_(std::move(params)) {
  if (params_.empty()) throw std::invalid_argument("flat gradients: no parameters");
  const Device device = params_.front()->value.device;
  int64_t total = 0;
  for (Param* p : params_) {
    if (!p->trainable) throw std::invalid_argument("flat gradients: " + p->name + " is frozen");
    if (p->value.device != device)
      throw std::invalid_argument("flat gradients: " + p->name + " is on " + device_name(p->value.device) + ", not " +
                                  device_name(device));
    p->ensure_grad();
    offsets_.push_back(total);
    total += p->value.numel();
  }
  buffer_ = Tensor::uninitialized({total}, device);
}

void FlatGradients::pack() {
  for (size_t i = 0; i < params_.size(); ++i)
    copy_values(buffer_, offsets_[i], params_[i]->grad, 0, params_[i]->grad.numel());
}

void FlatGradients::unpack(float scale) {
  std::vector<Tensor*> grads;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& g = params_[i]->grad;
    copy_values(g, 0, buffer_, offsets_[i], g.numel());
    grads.push_back(&g);
  }
  if (scale != 1.f) scale_grads(grads, scale);
}

}  // namespace cxrl
