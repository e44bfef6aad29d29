// Internal to the CUDA backend: a kernel's dynamic shared memory (the launch's third argument) as a
// typed pointer, 128-byte aligned. tests/cuda_emulation.h defines the macro its own way first, so
// the same kernels run on its emulated GPU.
#pragma once

#ifndef CXRL_DYNAMIC_SHARED
#define CXRL_DYNAMIC_SHARED(T, name)                                            \
  extern __shared__ __align__(128) unsigned char cxrl_dynamic_shared_memory_[]; \
  T* name = reinterpret_cast<T*>(cxrl_dynamic_shared_memory_)
#endif
