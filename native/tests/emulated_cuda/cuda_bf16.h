// bfloat16 for the emulated build: tests/cuda_emulation.h defines __nv_bfloat16 and its conversions.
#pragma once
#include "tests/cuda_emulation.h"
