// Reusable scratch memory: grow-only, uninitialised, 64-byte aligned, one buffer per (thread, slot). For large
// temporaries (im2col columns) that would otherwise be mapped, zero-filled and unmapped per call.
#pragma once
#include <cstddef>

namespace cxrl {

enum ScratchSlot { kScratchColumns = 0, kScratchColumnGrads = 1, kScratchSlots = 2 };

// Valid until the next call with the same slot on the same thread.
float* scratch_buffer(ScratchSlot slot, size_t floats);

// Keeps freed activation memory in the process for reuse instead of returning it to the kernel
// after every pass (glibc's defaults unmap anything above a few MiB). Call once at start-up.
void configure_allocator();

}  // namespace cxrl
