// Placeholder registration point for the RL kernels (DDIM step with log-prob, PPO); filled in by
// native/rl. Kept as its own file so addon.cc does not change when kernels are added.
#include <napi.h>

namespace cxrl {

void init_rl_functions(Napi::Env, Napi::Object) {}

}  // namespace cxrl
