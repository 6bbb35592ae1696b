// GPU side of the fused instance-norm kernels: the thread context and launcher for the
// kernel bodies in kernels.cuh, and the public cyclegan::cuda API.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/kernels.cuh"
#include "norm_act_pad.h"

namespace cyclegan {
namespace cuda {
namespace {

using namespace detail;

constexpr unsigned kFullMask = 0xffffffffu;

// The thread context of kernels.cuh on the device: the CUDA built-ins themselves.
struct DeviceCtx {
  __device__ int tid() const { return static_cast<int>(threadIdx.x); }
  __device__ int nthreads() const { return static_cast<int>(blockDim.x); }
  __device__ int64_t block() const { return blockIdx.x; }
  __device__ int64_t nblocks() const { return gridDim.x; }
  __device__ void sync() const { __syncthreads(); }
  // A value of several 32-bit words is shuffled word by word.
  template <typename R>
  __device__ R shfl_down(const R& v, int off) const {
    static_assert(sizeof(R) % 4 == 0, "shuffled values are whole 32-bit words");
    uint32_t w[sizeof(R) / 4];
    memcpy(w, &v, sizeof(R));
    for (auto& word : w) word = __shfl_down_sync(kFullMask, word, off);
    R out;
    memcpy(&out, w, sizeof(R));
    return out;
  }
};

template <class K>
__global__ void __launch_bounds__(kMaxThreads) run_kernel(const typename K::Args args) {
  __shared__ typename K::Shared shared;
  K::run(DeviceCtx{}, args, shared);
}

[[noreturn]] void launch_failed(const char* kernel, cudaError_t err) {
  std::string msg = std::string(kernel) + " launch failed: " + cudaGetErrorString(err);
  if (err == cudaErrorInsufficientDriver) {
    const std::string cuda = std::to_string(CUDART_VERSION / 1000) + "." +
                             std::to_string(CUDART_VERSION % 1000 / 10);
    msg += " (cyclegan links the CUDA " + cuda + " runtime statically: it needs an NVIDIA " +
           "driver for CUDA " + cuda + " or newer; update the driver or use the plain " +
           "layers, fused=False / --no-fused)";
  }
  throw std::runtime_error(msg);
}

struct StreamLauncher {
  cudaStream_t stream;

  template <class K>
  void launch(unsigned blocks, int threads, const typename K::Args& args) const {
    run_kernel<K><<<blocks, threads, 0, stream>>>(args);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) launch_failed(K::kName, err);
  }
};

StreamLauncher on(uintptr_t stream) { return {reinterpret_cast<cudaStream_t>(stream)}; }

}  // namespace

void norm_act_pad_fwd(DType dtype, const void* x, Strides xs, const void* skip, Strides ss,
                      void* y, Strides ys, float* mean, float* rstd, ImageShape s, Act act,
                      float eps, Launch l, uintptr_t stream) {
  dispatch_fwd(on(stream), dtype, x, xs, skip, ss, y, ys, mean, rstd, s, act, eps, l);
}

void norm_act_pad_bwd(DType dtype, const void* gy, Strides gys, const void* x, Strides xs,
                      const float* mean, const float* rstd, void* gx, Strides gxs, void* gskip,
                      Strides gss, ImageShape s, Act act, Launch l, uintptr_t stream) {
  dispatch_bwd(on(stream), dtype, gy, gys, x, xs, mean, rstd, gx, gxs, gskip, gss, s, act, l);
}

void norm_add_pad_bwd(DType dtype, const void* gy, Strides gys, const void* y, Strides ys,
                      const void* skip, Strides ss, const float* rstd, void* gx, Strides gxs,
                      void* gskip, Strides gss, ImageShape s, Launch l, uintptr_t stream) {
  dispatch_add_bwd(on(stream), dtype, gy, gys, y, ys, skip, ss, rstd, gx, gxs, gskip, gss, s,
                   l);
}

int64_t workspace_floats(ImageShape s, int sms) { return workspace_need(s, sms); }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

int runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

}  // namespace cuda
}  // namespace cyclegan
