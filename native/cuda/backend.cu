// The CUDA backend's memory side and its registration: tensor storage from the caching allocator
// (device_memory.h), host <-> device copies, and the one status query (device count, name, why not
// usable). register_cuda_backend installs this, the op tables (tensor_ops.cu), the RL kernels and
// the collectives (nccl_collective.cu).
#include <cuda_runtime.h>

#include <mutex>

#include "core/backend.h"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/nccl_collective.h"
#include "cuda/rl_cuda.h"
#include "cuda/tensor_ops.h"
#include "rl/device_kernels.h"

namespace cxrl {
namespace {

__global__ void fill_kernel(float* dst, float value, int64_t n) {
  CXRL_GRID_STRIDE(i, n) { dst[i] = value; }
}

class CudaStorage final : public DeviceStorage {
 public:
  explicit CudaStorage(int64_t n) : values_((size_t)n) {}
  float* data() const override { return values_.data(); }
  int64_t size() const override { return (int64_t)values_.size(); }
  std::unique_ptr<DeviceStorage> clone() const override {
    auto copy = std::make_unique<CudaStorage>(size());
    copy_on_device(copy->data(), data(), values_.size() * sizeof(float));
    return copy;
  }

 private:
  DeviceArray<float> values_;
};

DeviceStatus query_status() {
  DeviceStatus s;
  s.compiled = true;
  cudaRuntimeGetVersion(&s.runtime_version);
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    s.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return s;
  }
  s.device_count = n;
  if (n == 0) {
    s.reason = "no CUDA device found";
    return s;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) s.device_name = prop.name;
  s.usable = true;
  return s;
}

class CudaBackend final : public DeviceBackend {
 public:
  const DeviceStatus& status() const override {
    static const DeviceStatus s = query_status();
    return s;
  }
  std::unique_ptr<DeviceStorage> allocate(int64_t n) const override { return std::make_unique<CudaStorage>(n); }
  void upload(DeviceStorage& dst, const float* src, int64_t n) const override {
    copy_to_device(dst.data(), src, (size_t)n * sizeof(float));
  }
  void download(float* dst, const DeviceStorage& src, int64_t n) const override {
    copy_to_host(dst, src.data(), (size_t)n * sizeof(float));
  }
  void fill(DeviceStorage& dst, float value, int64_t n) const override {
    if (value == 0.f)
      check(cudaMemsetAsync(dst.data(), 0, (size_t)n * sizeof(float)), "fill");
    else
      launch_elementwise(fill_kernel, n, "fill", dst.data(), value, n);
  }
  DeviceMemory memory() const override {
    const DeviceMemoryStats m = device_memory_stats();
    return DeviceMemory{(int64_t)m.bytes_in_use, (int64_t)m.peak_bytes_in_use, (int64_t)m.bytes_cached,
                        m.device_mallocs};
  }
  void reset_peak_memory() const override { device_reset_peak(); }
  void copy(DeviceStorage& dst, int64_t dst_offset, const DeviceStorage& src, int64_t src_offset,
            int64_t n) const override {
    copy_on_device(dst.data() + dst_offset, src.data() + src_offset, (size_t)n * sizeof(float));
  }
};

}  // namespace

void register_cuda_backend() {
  static const CudaBackend backend;
  static const RlDeviceKernels rl{ddim_step_cuda_host,     ddim_step_backward_cuda_host,     ppo_loss_cuda_host,
                                  ddim_step_cuda_resident, ddim_step_backward_cuda_resident, bench_ddim_step_cuda};
  DeviceRegistry<DeviceBackend>::install(Device::kCuda, &backend);
  DeviceRegistry<DeviceOps>::install(Device::kCuda, &cuda_tensor_ops());
  DeviceRegistry<TrainingDeviceOps>::install(Device::kCuda, &cuda_training_ops());
  DeviceRegistry<RlDeviceKernels>::install(Device::kCuda, &rl);
  DeviceRegistry<DeviceCollectives>::install(Device::kCuda, &cuda_collectives());
}

}  // namespace cxrl
