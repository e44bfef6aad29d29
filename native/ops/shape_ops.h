// Layout ops: nearest 2x upsampling, channel concatenation, residual add, NCHW <-> tokens.
#pragma once
#include "core/tensor.h"

namespace cxrl {

Tensor upsample_nearest2x_forward(const Tensor& x);    // [B,C,H,W] -> [B,C,2H,2W]
Tensor upsample_nearest2x_backward(const Tensor& gy);  // sums each 2x2 block

Tensor concat_channels_forward(const Tensor& a, const Tensor& b);  // [B,Ca,..] ++ [B,Cb,..] along dim 1
void concat_channels_backward(const Tensor& gy, int64_t channels_a, Tensor* ga, Tensor* gb);

Tensor add(const Tensor& a, const Tensor& b);    // residual add (same shape)
void add_inplace(Tensor* acc, const Tensor& b);  // acc += b

// [B,C,H,W] -> [B,H*W,C] and back.
Tensor nchw_to_tokens(const Tensor& x);
Tensor tokens_to_nchw(const Tensor& t, int64_t H, int64_t W);

}  // namespace cxrl
