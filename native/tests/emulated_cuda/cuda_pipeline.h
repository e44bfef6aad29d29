// Asynchronous global-to-shared copies for the emulated GPU (tests/cuda_emulation.h), standing in
// for <cuda_pipeline.h>'s primitives (cp.async). Deferred, as on the hardware: a copy lands in
// shared memory only when its thread waits for the group it was committed in, so a kernel that reads
// a tile before __pipeline_wait_prior (or that waits for too few groups) reads the launch's NaN fill
// and fails its test. The API's rules are checked: 4, 8 or 16 bytes, both addresses aligned to the
// size, the destination in the dynamic shared buffer, and no copy left unwaited when a block ends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/cuda_emulation.h"

namespace cxrl::emulation {

// The source bytes are read when the copy is issued (the kernels copy inputs no one writes meanwhile).
inline void issue_async_copy(void* dst, const void* src, size_t bytes) {
  const auto* d = static_cast<unsigned char*>(dst);
  if (bytes != 4 && bytes != 8 && bytes != 16)
    return report("__pipeline_memcpy_async of " + std::to_string(bytes) + " bytes (4, 8 or 16 allowed)");
  if (reinterpret_cast<uintptr_t>(dst) % bytes != 0 || reinterpret_cast<uintptr_t>(src) % bytes != 0)
    return report("__pipeline_memcpy_async with an address not aligned to its size");
  if (d < dynamic_shared() || d + bytes > dynamic_shared() + kDynamicSharedBytes)
    return report("__pipeline_memcpy_async to an address outside shared memory");
  AsyncCopy c{dst, bytes, {}};
  std::memcpy(c.bytes, src, bytes);
  current_block()->async_copies[threadIdx.x].open.push_back(c);
}

inline void commit_async_copies() {
  ThreadAsyncCopies& t = current_block()->async_copies[threadIdx.x];
  t.committed.push_back(std::move(t.open));
  t.open.clear();
}

// Lands every committed group of this thread except the `prior` most recent ones.
inline void wait_async_copies(size_t prior) {
  ThreadAsyncCopies& t = current_block()->async_copies[threadIdx.x];
  while (t.committed.size() > prior) {
    for (const AsyncCopy& c : t.committed.front()) std::memcpy(c.dst, c.bytes, c.size);
    t.committed.erase(t.committed.begin());
  }
}

}  // namespace cxrl::emulation

inline void __pipeline_memcpy_async(void* dst, const void* src, size_t bytes) {
  cxrl::emulation::issue_async_copy(dst, src, bytes);
}
inline void __pipeline_commit() { cxrl::emulation::commit_async_copies(); }
inline void __pipeline_wait_prior(size_t prior) { cxrl::emulation::wait_async_copies(prior); }
