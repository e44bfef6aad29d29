#include "core/scratch.h"

#include <malloc.h>

#include <memory>

namespace cxrl {

float* scratch_buffer(ScratchSlot slot, size_t floats) {
  thread_local std::unique_ptr<float[]> buffers[kScratchSlots];
  thread_local size_t sizes[kScratchSlots] = {};
  if (sizes[slot] < floats) {
    buffers[slot].reset(new float[floats]);
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
