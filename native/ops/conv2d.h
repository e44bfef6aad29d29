// 2-D convolution, NCHW, square kernels of any size, any stride and zero padding.
// Forward: stride-1 k x k kernels run the direct kernel (conv2d_direct.h); other strides and 1x1
// kernels are im2col + GEMM per image. Backward gives dx (stride 1: the direct kernel on the
// flipped kernel), and accumulates dw (3x3 stride 1: the direct weight-gradient kernel) and db;
// the rest is im2col + GEMM.
#pragma once
#include "core/tensor.h"

namespace cxrl {

struct Conv2dGeom {
  int stride = 1;
  int pad = 0;
};

// x [B,Cin,H,W], w [Cout,Cin,k,k], b [Cout] or null -> [B,Cout,Ho,Wo].
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g);
// The im2col + GEMM forward for any geometry (what conv2d_forward runs for strides above 1 and
// 1x1 kernels), callable directly as the reference and for benchmarks.
Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g);

// gx (when not null) is overwritten; gw and gb (when not null) are accumulated.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw,
                     Tensor* gb);

}  // namespace cxrl
