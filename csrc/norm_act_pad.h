// The fused instance-norm kernels: their math, argument structs and entry points (the
// parts of an argument struct: common.h). The CPU kernels take NCHW-contiguous arrays
// (their strides are not read), the CUDA kernels any strides; mean and rstd are contiguous
// everywhere. Validation happens in python/cyclegan/ops.py.
//
// Layout: x is P = N*C planes of H x W. The output y is P planes of Hp x Wp,
// Hp = H + 2*pad, Wp = W + 2*pad. Per plane p:
//   mean[p] = sum(x) / (H*W),  rstd[p] = 1 / sqrt(sum((x - mean)^2) / (H*W) + eps)
//   xhat    = (x - mean) * rstd
//   y       = reflect_pad(act(xhat) + skip, pad)     (skip optional, H x W like x)
// Backward, with gy the gradient of y:
//   g       = fold(gy): each padded position adds onto the interior pixel it copied
//   gskip   = g
//   gm      = g * act'(xhat)
//   gx      = rstd * (gm - mean(gm) - xhat * mean(gm * xhat))
// The skip form (act None) also has a backward that takes its own output instead of x:
// xhat = interior(y) - skip. The output and skip are kept for backward by the convolutions
// around the op anyway, so autograd then stores no extra tensor for it. Its error is |skip|
// times the rounding error of y, so half and bfloat16 use norm_act_pad_bwd with gskip
// (xhat from x) instead.
// Statistics are float for float/half/bfloat16 data and double for double data.
#pragma once

#include <cstdint>

#include "common.h"

namespace cyclegan {

// Forward: y = reflect_pad(act(xhat) + skip, pad), mean and rstd per plane. skip is
// optional (the empty View) and, when present, act is None.
struct NormActPadFwd {
  DType dtype = DType::Float32;
  View x, skip, y, mean, rstd;
  ImageShape shape;
  Act act = Act::None;
  double eps = 0;
  Launch launch;
};

// Backward from the input: gx, and gskip = fold(gy) when gskip is given (the skip form
// in half and bfloat16).
struct NormActPadBwd {
  DType dtype = DType::Float32;
  View gy, x, mean, rstd, gx, gskip;
  ImageShape shape;
  Act act = Act::None;
  Launch launch;
};

// Backward of the skip form from its output: xhat = interior(y) - skip.
struct NormAddPadBwd {
  DType dtype = DType::Float32;
  View gy, y, skip, rstd, gx, gskip;
  ImageShape shape;
  Launch launch;
};

// Float32 and Float64. Errors are thrown as std::invalid_argument.
namespace cpu {
void norm_act_pad_fwd(const NormActPadFwd& a);
void norm_act_pad_bwd(const NormActPadBwd& a);
void norm_add_pad_bwd(const NormAddPadBwd& a);
}  // namespace cpu

// Float32, Float16 and BFloat16 data, float statistics, enqueued on a.launch. Errors are
// thrown as std::invalid_argument / std::runtime_error.
namespace cuda {
void norm_act_pad_fwd(const NormActPadFwd& a);
void norm_act_pad_bwd(const NormActPadBwd& a);
void norm_add_pad_bwd(const NormAddPadBwd& a);
// Workspace (floats) every call of these kernels with this shape and SM count needs at most.
int64_t norm_act_pad_workspace_floats(const ImageShape& s, int sms);
}  // namespace cuda

}  // namespace cyclegan
