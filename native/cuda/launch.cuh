// Internal to the CUDA backend: how host code launches a kernel. CXRL_LAUNCH(kernel, grid, block,
// smem)(args...) is kernel<<<grid, block, smem>>>(args...); CXRL_LAUNCH_BARRIER_FREE is the same
// for kernels without barriers or warp collectives (grid-stride elementwise ones). The emulated
// build (tests/cuda_emulation.h, CXRL_EMULATE_CUDA in CMake) defines both first, to run the
// kernels on its emulated GPU (the barrier-free ones one thread after another, much faster).
#pragma once

#ifndef CXRL_LAUNCH
#define CXRL_LAUNCH(kernel, grid, block, smem) kernel<<<grid, block, smem>>>
#define CXRL_LAUNCH_BARRIER_FREE(kernel, grid, block, smem) kernel<<<grid, block, smem>>>
#endif
