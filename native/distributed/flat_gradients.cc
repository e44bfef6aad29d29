#include "distributed/flat_gradients.h"

#include <stdexcept>

#include "model/training_device_ops.h"

namespace cxrl {
namespace {

// Each copy's slices, on their one device: a GPU copies them all in one launch.
void copy_slices(const std::vector<SliceCopy>& copies, float scale) {
  std::vector<const Tensor*> tensors;
  for (const SliceCopy& c : copies) {
    if (c.dst_offset + c.n > c.dst->numel() || c.src_offset + c.n > c.src->numel())
      throw std::logic_error("flat gradients: a slice past the end of its tensor");
    tensors.push_back(c.dst), tensors.push_back(c.src);
  }
  if (const TrainingDeviceOps* device = training_device_ops(tensors, "flat gradients"))
    return device->copy_scaled(copies, scale);
  for (const SliceCopy& c : copies) {
    float* dst = c.dst->data() + c.dst_offset;
    const float* src = c.src->data() + c.src_offset;
    for (int64_t i = 0; i < c.n; ++i) dst[i] = scale * src[i];
  }
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
  std::vector<SliceCopy> copies;
  for (size_t i = 0; i < params_.size(); ++i)
    copies.push_back({&buffer_, offsets_[i], &params_[i]->grad, 0, params_[i]->grad.numel()});
  copy_slices(copies, 1.f);
}

void FlatGradients::unpack(float scale) {
  std::vector<SliceCopy> copies;
  for (size_t i = 0; i < params_.size(); ++i)
    copies.push_back({&params_[i]->grad, 0, &buffer_, offsets_[i], params_[i]->grad.numel()});
  copy_slices(copies, scale);
}

}  // namespace cxrl
