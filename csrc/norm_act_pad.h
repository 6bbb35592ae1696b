// Torch-free API of the fused instance-norm kernels. Callers pass raw pointers to buffers
// that they own: NCHW contiguous for the CPU kernels, any strides (Strides) for the CUDA
// kernels; validation happens in python/cyclegan/ops.py.
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
#include <string>

namespace cyclegan {

struct PlaneShape {
  int64_t planes;  // N * C
  int64_t h;
  int64_t w;
  int64_t pad;     // 0 <= pad < min(h, w)
};

// Element strides of an N x C x H x W tensor (CUDA): element (n, c, h, w) is at
// data + n*n_stride + c*c_stride + h*h_stride + w*w_stride. NCHW contiguous is
// {C*H*W, H*W, W, 1}, channels_last {H*W*C, 1, W*C, C}.
struct Strides {
  int64_t n, c, h, w;
};

// The CUDA kernels' shape (x is n x c x h x w) and what a launch may use: the device's
// SM count (it decides how many blocks share a plane, see kernels.cuh) and a float32
// workspace of at least workspace_floats(shape, sms) elements.
struct ImageShape {
  int64_t n, c, h, w;
  int64_t pad;  // 0 <= pad < min(h, w)
};
struct Launch {
  int sms;
  float* workspace;
  int64_t workspace_floats;
};

enum class Act : int { None = 0, Relu = 1 };
enum class DType : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };

namespace cpu {

// Float32 and Float64 only. Runs on the calling thread plus the module's pool.
void norm_act_pad_fwd(DType dtype, const void* x, const void* skip, void* y, void* mean,
                      void* rstd, PlaneShape s, Act act, double eps);
void norm_act_pad_bwd(DType dtype, const void* gy, const void* x, const void* mean,
                      const void* rstd, void* gx, void* gskip, PlaneShape s, Act act);
void norm_add_pad_bwd(DType dtype, const void* gy, const void* y, const void* skip,
                      const void* rstd, void* gx, void* gskip, PlaneShape s);

// The instruction set the dispatcher selected ("avx512", "avx2" or "base").
const char* active_isa();
const char* compiled_isas();
int num_threads();
void set_num_threads(int n);

}  // namespace cpu

namespace cuda {

// Float32, Float16 and BFloat16 data of any strides (y and gy are n x c x Hp x Wp, the
// others n x c x h x w), float statistics (mean and rstd contiguous, one per plane),
// enqueued on `stream` (a cudaStream_t) on the current device. Errors are thrown as
// std::invalid_argument / std::runtime_error.
void norm_act_pad_fwd(DType dtype, const void* x, Strides xs, const void* skip, Strides ss,
                      void* y, Strides ys, float* mean, float* rstd, ImageShape s, Act act,
                      float eps, Launch l, uintptr_t stream);
void norm_act_pad_bwd(DType dtype, const void* gy, Strides gys, const void* x, Strides xs,
                      const float* mean, const float* rstd, void* gx, Strides gxs, void* gskip,
                      Strides gss, ImageShape s, Act act, Launch l, uintptr_t stream);
void norm_add_pad_bwd(DType dtype, const void* gy, Strides gys, const void* y, Strides ys,
                      const void* skip, Strides ss, const float* rstd, void* gx, Strides gxs,
                      void* gskip, Strides gss, ImageShape s, Launch l, uintptr_t stream);
// Workspace every call with this shape and SM count needs at most, in floats.
int64_t workspace_floats(ImageShape s, int sms);

// Number of usable devices; 0 on any error (no driver, no device), never throws.
int device_count();
// cudaRuntimeGetVersion / cudaDriverGetVersion, 0 when unavailable.
int runtime_version();
int driver_version();

}  // namespace cuda
}  // namespace cyclegan
