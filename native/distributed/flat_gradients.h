// The gradients of a parameter list in one contiguous buffer on their device, so that one
// collective call covers a whole step (data-parallel training all-reduces it once per step).
#pragma once
#include <vector>

#include "model/params.h"

namespace cxrl {

class FlatGradients {
 public:
  // Every parameter must be trainable and on the same device; gradients are allocated if absent.
  explicit FlatGradients(std::vector<Param*> params);
  void pack();               // each gradient -> its slice of the buffer
  void unpack(float scale);  // buffer * scale -> each gradient (one pass: the scale is folded into the copy)
  Tensor& buffer() { return buffer_; }
  int64_t numel() const { return buffer_.numel(); }
  Device device() const { return buffer_.device; }

 private:
  std::vector<Param*> params_;
  std::vector<int64_t> offsets_;  // start of each gradient in the buffer
  Tensor buffer_;
};

}  // namespace cxrl
