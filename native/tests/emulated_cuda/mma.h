// WMMA for the emulated build: tests/cuda_emulation.h defines nvcuda::wmma.
#pragma once
#include "tests/cuda_emulation.h"
