// What every compiled entry point of cyclegan._C is made of. An entry point takes one
// argument struct (declared in its op's header, e.g. norm_act_pad.h) built from these
// parts: a View per array, the shape, and for CUDA the Launch. The structs are bound to
// Python once (csrc/bindings.cpp, keyword construction), and the CUDA emulation harness
// builds the same structs. Everything here is plain data: no torch, no numpy; callers
// validate in Python before they call in.
#pragma once

#include <cstdint>

namespace cyclegan {

enum class DType : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };
enum class Act : int { None = 0, Relu = 1 };

// Element strides of an N x C x H x W array: element (n, c, h, w) is at
// data + n*n_stride + c*c_stride + h*h_stride + w*w_stride. NCHW contiguous is
// {C*H*W, H*W, W, 1}, channels_last {H*W*C, 1, W*C, C}; a numpy H x W x C image is the
// N = 1 case {0, sC, sH, sW} (numpy counts strides in bytes: divide by the item size).
struct Strides {
  int64_t n = 0, c = 0, h = 0, w = 0;
};

// An array the caller owns: the address of element (0, 0, 0, 0) and its strides. An absent
// optional array is the empty View (data 0). Each entry point documents which of its
// arrays may have any strides and which must be contiguous (the strides then unread).
struct View {
  uintptr_t data = 0;
  Strides strides;

  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(data);
  }
  explicit operator bool() const { return data != 0; }
};

// x is n x c x h x w; outputs of the padded ops are n x c x (h + 2 pad) x (w + 2 pad).
struct ImageShape {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t pad = 0;  // 0 <= pad < min(h, w)
};

// How a CUDA call runs: the device's SM count (it decides how many blocks share a plane,
// see cuda/norm_act_pad.cuh), a float32 workspace of workspace_floats elements (at least what
// the entry point's *_workspace_floats says), and the cudaStream_t to enqueue on, on the
// current device. The CPU kernels ignore it: they run on the calling thread plus the
// module's pool (cpu/parallel.h).
struct Launch {
  int sms = 0;
  uintptr_t workspace = 0;
  int64_t workspace_floats = 0;
  uintptr_t stream = 0;
};

// The build and the machine, for build_info.
namespace cpu {
const char* active_isa();     // the instruction set the dispatcher chose (cpu/dispatch.cpp)
const char* compiled_isas();  // all compiled, e.g. "base,avx2,avx512"
int num_threads();            // the pool's size (cpu/parallel.cpp)
void set_num_threads(int n);
}  // namespace cpu
namespace cuda {
int device_count();  // cuda/runtime.cu; 0 on any error (no driver, no device)
int runtime_version();
int driver_version();
}  // namespace cuda

}  // namespace cyclegan
