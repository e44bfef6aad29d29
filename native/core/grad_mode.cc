#include "core/grad_mode.h"

namespace cxrl {
namespace {
thread_local bool t_grad_enabled = true;
}  // namespace

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard(bool active) : previous_(t_grad_enabled) {
  if (active) t_grad_enabled = false;
}

NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

}  // namespace cxrl
