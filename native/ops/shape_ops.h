// Layout ops: nearest 2x upsampling, zero padding, channel concatenation, residual add, NCHW <-> tokens.
#pragma once
#include "core/tensor.h"

namespace cxrl {

Tensor upsample_nearest2x_forward(const Tensor& x);    // [B,C,H,W] -> [B,C,2H,2W]
Tensor upsample_nearest2x_backward(const Tensor& gy);  // sums each 2x2 block

// Zeros added below and right of each image (diffusers' encoder Downsample2D pads (0,1,0,1) before
// its stride-2 convolution): [B,C,H,W] -> [B,C,H+bottom,W+right]. The backward crops.
Tensor pad_bottom_right_forward(const Tensor& x, int64_t bottom, int64_t right);
Tensor pad_bottom_right_backward(const Tensor& gy, int64_t bottom, int64_t right);

Tensor concat_channels_forward(const Tensor& a, const Tensor& b);  // [B,Ca,..] ++ [B,Cb,..] along dim 1
void concat_channels_backward(const Tensor& gy, int64_t channels_a, Tensor* ga, Tensor* gb);

Tensor add(const Tensor& a, const Tensor& b);                        // residual add (same shape)
void add_inplace(Tensor* acc, const Tensor& b);                      // acc += b
void add_scaled_inplace(Tensor* acc, const Tensor& b, float scale);  // acc += scale b (LoRA's branch)
// Per-plane bias (the ResNet block's time embedding): h [B,C,H,W] += t [B,C] over each image plane;
// its gradient with respect to t is plane_sums(gh) [B,C] (summed in double).
void add_plane_bias(Tensor* h, const Tensor& t);
Tensor plane_sums(const Tensor& g);

// [B,C,H,W] -> [B,H*W,C] and back.
Tensor nchw_to_tokens(const Tensor& x);
Tensor tokens_to_nchw(const Tensor& t, int64_t H, int64_t W);

}  // namespace cxrl
