// What the CUDA kernel bodies of every op share, written once for two callers: the op's
// .cu file runs them on the GPU (through cuda/launch.cuh), and tests/emulation/harness.cpp
// builds them as host code and replays every block's threads on the CPU, so the kernels
// are tested on machines without a GPU.
//
// A kernel is a struct K with K::kName, K::Args (its arguments, by value), K::Shared (its
// shared memory, one per block) and K::run(ctx, args, shared), which every thread
// executes. All a body knows about the machine comes from the thread context `ctx`:
//   ctx.tid(), ctx.nthreads()   threadIdx.x, blockDim.x (a multiple of 32, at most 1024)
//   ctx.block(), ctx.nblocks()  blockIdx.x, gridDim.x
//   ctx.sync()                  __syncthreads()
//   ctx.shfl_down(v, off)       __shfl_down_sync over the full warp, for a trivially
//                               copyable v of whole 32-bit words
// An op's host-side dispatch validates a call, picks the kernel instantiation and its
// grid, and hands it to a launcher: launcher.template launch<K>(blocks, threads, args).
// Helpers here are in cyclegan::cuda::detail; each op's kernels in a namespace of its own.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common.h"

namespace cyclegan {
namespace cuda {
namespace detail {

constexpr int kVecBytes = 16;
constexpr int kMaxThreads = 1024;

// Unrolls a loop on the device; host compilers (the helpers below are __host__ __device__)
// would warn about the unknown pragma.
#ifdef __CUDA_ARCH__
#define CYCLEGAN_UNROLL _Pragma("unroll")
#else
#define CYCLEGAN_UNROLL
#endif

__host__ __device__ inline float bits_as_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

__host__ __device__ inline uint32_t float_as_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

__host__ __device__ inline float to_float(float v) { return v; }
__host__ __device__ inline float to_float(__half v) { return __half2float(v); }
__host__ __device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__host__ __device__ T from_float(float v);
template <>
__host__ __device__ inline float from_float<float>(float v) { return v; }
template <>
__host__ __device__ inline __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__host__ __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Element <-> raw bits (a float fills a 32-bit word, a half or bfloat16 its low 16 bits).
template <typename T>
__host__ __device__ float bits_to_float(uint32_t b);
template <>
__host__ __device__ inline float bits_to_float<float>(uint32_t b) { return bits_as_float(b); }
template <>
__host__ __device__ inline float bits_to_float<__half>(uint32_t b) {
  __half_raw r;
  r.x = static_cast<unsigned short>(b);
  return __half2float(__half(r));
}
template <>
__host__ __device__ inline float bits_to_float<__nv_bfloat16>(uint32_t b) {
  return bits_as_float(b << 16);
}

template <typename T>
__host__ __device__ uint32_t float_to_bits(float v);
template <>
__host__ __device__ inline uint32_t float_to_bits<float>(float v) { return float_as_bits(v); }
template <>
__host__ __device__ inline uint32_t float_to_bits<__half>(float v) {
  return static_cast<__half_raw>(__float2half_rn(v)).x;
}
template <>
__host__ __device__ inline uint32_t float_to_bits<__nv_bfloat16>(float v) {
  return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(v)).x;
}

// Scalar and 16-byte accesses converting to/from float. A 16-byte pack holds kVec elements,
// element k in 32-bit word k / kPerWord at bit 16 * (k % kPerWord) (little-endian).
template <typename T>
struct Io {
  static constexpr int kVec = kVecBytes / static_cast<int>(sizeof(T));
  static constexpr int kPerWord = 4 / static_cast<int>(sizeof(T));

  // Loads are of inputs only, which stay constant during a kernel: on the device they go
  // through the read-only path (the compiler stops inferring it once __stwb appears).
  __host__ __device__ static float load(const T* p) {
#ifdef __CUDA_ARCH__
    return to_float(__ldg(p));
#else
    return to_float(*p);
#endif
  }
  __host__ __device__ static void store(T* p, float v) { *p = from_float<T>(v); }

  __host__ __device__ static uint4 load_raw(const T* p) {
#ifdef __CUDA_ARCH__
    return __ldg(reinterpret_cast<const uint4*>(p));
#else
    return *reinterpret_cast<const uint4*>(p);
#endif
  }
  __host__ __device__ static void unpack(const uint4& raw, float (&v)[kVec]) {
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
    CYCLEGAN_UNROLL
    for (int i = 0; i < 4; ++i) {
      CYCLEGAN_UNROLL
      for (int j = 0; j < kPerWord; ++j) {
        const uint32_t b = kPerWord == 1 ? w[i] : (w[i] >> (16 * j)) & 0xffffu;
        v[i * kPerWord + j] = bits_to_float<T>(b);
      }
    }
  }
  __host__ __device__ static void load_vec(const T* p, float (&v)[kVec]) {
    unpack(load_raw(p), v);
  }
  __host__ __device__ static void store_vec(T* p, const float (&v)[kVec]) {
    uint32_t w[4];
    CYCLEGAN_UNROLL
    for (int i = 0; i < 4; ++i) {
      w[i] = 0;
      CYCLEGAN_UNROLL
      for (int j = 0; j < kPerWord; ++j) w[i] |= float_to_bits<T>(v[i * kPerWord + j]) << (16 * j);
    }
    const uint4 raw = make_uint4(w[0], w[1], w[2], w[3]);
#ifdef __CUDA_ARCH__
    // The intrinsic keeps the store one 16-byte instruction (a plain assignment gets split).
    __stwb(reinterpret_cast<uint4*>(p), raw);
#else
    *reinterpret_cast<uint4*>(p) = raw;
#endif
  }
};

// Combines one value per thread over the block and returns the total to every thread; R
// brings its own combine(R, R) (found by argument-dependent lookup). smem holds 33 values;
// it is free again on return.
template <class Ctx, typename R>
__host__ __device__ R block_reduce(const Ctx& ctx, R v, R* smem) {
  const int lane = ctx.tid() & 31;
  const int warp = ctx.tid() >> 5;
  for (int off = 16; off > 0; off >>= 1) v = combine(v, ctx.shfl_down(v, off));
  if (lane == 0) smem[warp] = v;
  ctx.sync();
  if (warp == 0) {
    v = lane < (ctx.nthreads() >> 5) ? smem[lane] : R{};
    for (int off = 16; off > 0; off >>= 1) v = combine(v, ctx.shfl_down(v, off));
    if (lane == 0) smem[32] = v;
  }
  ctx.sync();
  const R total = smem[32];
  ctx.sync();
  return total;
}

// ---- host side ----

inline unsigned grid_blocks(int64_t planes) {
  return static_cast<unsigned>(planes < INT_MAX ? planes : INT_MAX);
}

template <typename T>
bool element_aligned(const void* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0;
}

inline uintptr_t residue(const void* p) { return reinterpret_cast<uintptr_t>(p) % kVecBytes; }

[[noreturn]] inline void unsupported_dtype(const char* who, DType dtype) {
  throw std::invalid_argument(std::string(who) + ": unsupported dtype (code " +
                              std::to_string(static_cast<int>(dtype)) +
                              "); float32, float16 and bfloat16 only");
}

// Calls f(T{}) with T the element type of `dtype` (float, half or bfloat16); `who` names
// the caller in the error for any other dtype.
template <typename F>
void with_dtype(DType dtype, const char* who, F&& f) {
  switch (dtype) {
    case DType::Float32:
      f(float{});
      break;
    case DType::Float16:
      f(__half{});
      break;
    case DType::BFloat16:
      f(__nv_bfloat16{});
      break;
    default:
      unsupported_dtype(who, dtype);
  }
}

// Calls f(std::integral_constant<bool, b>{}) with b the runtime flag, so a kernel template
// can take it as a compile-time parameter.
template <typename F>
void with_flag(bool b, F&& f) {
  if (b) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace cyclegan
