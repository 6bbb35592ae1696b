// Torch-free API of the fused instance-norm kernels. Callers pass raw pointers to
// contiguous buffers that they own (the CUDA kernels also read a strided skip, see
// SkipStrides); validation happens in python/cyclegan/ops.py.
//
// Layout: x is P = N*C planes of H x W (NCHW contiguous). The output y is P planes of
// Hp x Wp, Hp = H + 2*pad, Wp = W + 2*pad, also contiguous. Per plane p:
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

// A skip read in place (CUDA): plane p = (p / channels, p % channels) starts at
// skip + (p / channels) * n + (p % channels) * c, its rows are h elements apart and its
// pixels adjacent (W stride 1); all in elements. Contiguous: {C, C*H*W, H*W, W}.
struct SkipStrides {
  int64_t channels;
  int64_t n, c, h;
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

// Float32, Float16 and BFloat16 data, float statistics, enqueued on `stream`
// (a cudaStream_t) on the current device. Errors are thrown as std::runtime_error.
void norm_act_pad_fwd(DType dtype, const void* x, const void* skip, SkipStrides skip_strides,
                      void* y, float* mean, float* rstd, PlaneShape s, Act act, float eps,
                      uintptr_t stream);
void norm_act_pad_bwd(DType dtype, const void* gy, const void* x, const float* mean,
                      const float* rstd, void* gx, void* gskip, PlaneShape s, Act act,
                      uintptr_t stream);
void norm_add_pad_bwd(DType dtype, const void* gy, const void* y, const void* skip,
                      SkipStrides skip_strides, const float* rstd, void* gx, void* gskip,
                      PlaneShape s, uintptr_t stream);

// Number of usable devices; 0 on any error (no driver, no device), never throws.
int device_count();
// cudaRuntimeGetVersion / cudaDriverGetVersion, 0 when unavailable.
int runtime_version();
int driver_version();

}  // namespace cuda
}  // namespace cyclegan
