// Direct convolution for stride 1 (no im2col matrix, no GEMM packing): the forward of a k x k
// convolution, and the weight gradient of a 3x3 one, computed from zero-padded copies of the images
// by register-tiled FMA kernels for AVX-512, AVX2+FMA and a portable baseline, chosen at run time.
// conv2d.cc decides when to use them; its im2col + GEMM path is the reference.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cxrl {

enum class DirectConvIsa { kAvx512, kAvx2, kBaseline };

// The instruction sets this CPU can run, best first (the first is what conv2d_forward uses).
const std::vector<DirectConvIsa>& direct_conv_isas();
std::string direct_conv_isa_name(DirectConvIsa isa);

// x [B,Cin,H,W], w [Cout,Cin,k,k], b [Cout] or null -> y [B,Cout,Ho,Wo], stride 1, zero padding pad.
// Every element of y is written.
void conv2d_direct_forward(const Tensor& x, const Tensor& w, const Tensor* b, int pad, Tensor& y, DirectConvIsa isa);

// The weight gradient of a 3x3, stride-1 convolution: gw [Cout,Cin,3,3] += sum over the batch and
// positions of gy [B,Cout,Ho,Wo] times the shifted input x [B,Cin,H,W] (zero padding pad).
void conv2d_direct_weight_grad(const Tensor& x, const Tensor& gy, int pad, Tensor& gw, DirectConvIsa isa);

}  // namespace cxrl
