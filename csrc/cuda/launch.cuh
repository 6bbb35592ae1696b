// Running kernel bodies (cuda/device.cuh) on the GPU: the thread context is the CUDA
// built-ins themselves, and a StreamLauncher enqueues each kernel on the caller's stream.
// Included by each op's .cu file.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common.h"
#include "cuda/device.cuh"

namespace cyclegan {
namespace cuda {
namespace detail {

constexpr unsigned kFullMask = 0xffffffffu;

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

[[noreturn]] inline void launch_failed(const char* kernel, cudaError_t err) {
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

// The launcher of an op's dispatch: launch<K>(blocks, threads, args) on the call's stream.
struct StreamLauncher {
  cudaStream_t stream;

  explicit StreamLauncher(const Launch& l) : stream(reinterpret_cast<cudaStream_t>(l.stream)) {}

  template <class K>
  void launch(unsigned blocks, int threads, const typename K::Args& args) const {
    run_kernel<K><<<blocks, threads, 0, stream>>>(args);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) launch_failed(K::kName, err);
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace cyclegan
