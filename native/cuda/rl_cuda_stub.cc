// Linked instead of rl_kernels.cu and bench/ddim_step_bench.cu when the addon is built without CUDA.
#include <stdexcept>

#include "bench/ddim_step_bench.h"
#include "cuda/rl_cuda.h"

namespace cxrl {
namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error(
      "this build of the addon was compiled without CUDA (no nvcc at build time); use --device cpu");
}
}  // namespace

void ddim_step_cuda_host(const DdimStepArgs&, float*, double*) { unavailable(); }
void ddim_step_backward_cuda_host(const DdimStepArgs&, const double*, float*, float*) { unavailable(); }
PpoStats ppo_loss_cuda_host(const PpoArgs&, double*) { unavailable(); }
StepTiming bench_ddim_step_cuda(const StepBenchConfig&) { unavailable(); }

}  // namespace cxrl
