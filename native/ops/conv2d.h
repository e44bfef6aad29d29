// 2-D convolution, NCHW, square kernels of any size, any stride and zero padding.
// Forward is im2col + GEMM per image; backward gives dx, and accumulates into dw and db.
#pragma once
#include "core/tensor.h"

namespace cxrl {

struct Conv2dGeom {
  int stride = 1;
  int pad = 0;
};

// x [B,Cin,H,W], w [Cout,Cin,k,k], b [Cout] or null -> [B,Cout,Ho,Wo].
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g);

// gx (when not null) is overwritten; gw and gb (when not null) are accumulated.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw,
                     Tensor* gb);

}  // namespace cxrl
