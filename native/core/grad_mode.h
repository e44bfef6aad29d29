// Inference mode, as torch.no_grad: while a NoGradGuard lives on a thread, the layers that thread
// runs keep nothing for a backward pass (no input copies, no attention probabilities), so a
// sampling forward uses less memory and time. A backward after such a forward is refused.
#pragma once

namespace cxrl {

bool grad_enabled();

class NoGradGuard {
 public:
  explicit NoGradGuard(bool active = true);
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace cxrl
