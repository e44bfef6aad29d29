#include "core/scratch.h"

#include <malloc.h>

#include <cstdlib>
#include <memory>
#include <new>

namespace cxrl {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

}  // namespace

float* scratch_buffer(ScratchSlot slot, size_t floats) {
  // Cache-line aligned, so that rows the vector kernels lay out at multiples of 16 floats load
  // without splitting cache lines.
  constexpr size_t kAlign = 64;
  thread_local std::unique_ptr<float, FreeDeleter> buffers[kScratchSlots];
  thread_local size_t sizes[kScratchSlots] = {};
  if (sizes[slot] < floats) {
    const size_t bytes = (floats * sizeof(float) + kAlign - 1) / kAlign * kAlign;
    buffers[slot].reset(static_cast<float*>(std::aligned_alloc(kAlign, bytes)));
    if (!buffers[slot]) throw std::bad_alloc();
    sizes[slot] = floats;
  }
  return buffers[slot].get();
}

void configure_allocator() {
#ifdef M_MMAP_THRESHOLD
  static bool done = false;
  if (done) return;
  done = true;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum: blocks up to 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // keep up to 1 GiB of freed heap for reuse
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

}  // namespace cxrl
