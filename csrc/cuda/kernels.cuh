// Bodies of the CUDA kernels of the fused instance norm (math: csrc/norm_act_pad.h), written
// once for two callers: csrc/cuda/norm_act_pad.cu runs them on the GPU, and
// tests/emulation/harness.cu builds them as host code and replays every block's threads on
// the CPU, so the kernels are tested on machines without a GPU.
//
// A kernel is a struct K with K::Args (its arguments, by value), K::Shared (its shared
// memory, one per block) and K::run(ctx, args, shared), which every thread executes. All a
// body knows about the machine comes from the thread context `ctx`:
//   ctx.tid(), ctx.nthreads()   threadIdx.x, blockDim.x (a multiple of 32, at most 1024)
//   ctx.block(), ctx.nblocks()  blockIdx.x, gridDim.x
//   ctx.sync()                  __syncthreads()
//   ctx.shfl_down(v, off)       __shfl_down_sync over the full warp, for a trivially
//                               copyable v of whole 32-bit words
// The dispatch_* functions at the end validate a call, pick the kernel instantiation and
// its grid, and hand it to a launcher: launcher.template launch<K>(blocks, threads, args).
//
// One thread block owns one plane (N*C planes; a block loops over planes when there are more
// planes than blocks). Inside a plane all indices are int: x, skip, gx and gskip are H x W
// row-major at offset p*H*W, y and gy are Hp x Wp row-major at offset p*Hp*Wp, with
// Hp = H + 2*pad and Wp = W + 2*pad.
//
// Forward, per plane:
//   pass 1: mean and M2 = sum((x - mean)^2) by Welford/Chan merges (per 16-byte chunk, then
//           per thread, warp and block), so a large mean does not cancel the variance;
//           rstd = 1 / sqrt(M2 / (H*W) + eps).
//   pass 2: every output position (ho, wo) reads x at (reflect(ho - pad, H),
//           reflect(wo - pad, W)) from L2 and writes y = act(xhat) + skip there; threads walk
//           y linearly so the stores are coalesced and 16 bytes wide.
// Backward, per plane (a gather, so no atomics):
//   g(h, w) = sum of gy over the padded positions that copy (h, w) (see fold()),
//   gm = g * act'(xhat),
//   pass 1: sum(gm) and sum(gm * xhat) over the plane,
//   pass 2: gskip = g, gx = rstd * (gm - sum(gm)/(H*W) - xhat * sum(gm*xhat)/(H*W)).
// Data is float, half or bfloat16; all arithmetic and the statistics are float.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "norm_act_pad.h"

namespace cyclegan {
namespace cuda {
namespace detail {

constexpr int kVecBytes = 16;
constexpr int kMaxThreads = 1024;
constexpr int kUnroll = 4;
// Largest padded plane; keeps every in-plane index and its stride increments inside int.
constexpr int64_t kMaxPlaneElems = int64_t{1} << 30;

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

struct Geom {
  int h, w, pad, hp, wp;
};

// Where plane p = (n, c) of the skip starts and how far apart its rows are, in elements:
// the skip is read through its strides (a view such as the interior of the previous
// padded output), with unit stride along W.
struct SkipLayout {
  int64_t channels, n, c;
  int h;
  __host__ __device__ int64_t plane_offset(int64_t p) const {
    return (p / channels) * n + (p % channels) * c;
  }
};

// Source index of padded coordinate i + pad along an axis of length n (torch's
// ReflectionPad: the edge is not repeated), valid for -n < i < 2n - 1.
__host__ __device__ inline int reflect(int i, int n) {
  return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
}

// A plane of n contiguous elements at p, split so the middle is 16-byte aligned: scalar
// elements [0, head), nvec packs of kVec elements from head, scalar elements [tail, n).
// Without `vectorize` everything is scalar.
struct Split {
  int head, nvec, tail;
};

template <typename T>
__host__ __device__ inline Split split_plane(const T* p, int n, bool vectorize) {
  constexpr int v = Io<T>::kVec;
  if (!vectorize) return {n, 0, n};
  const int mis =
      static_cast<int>(reinterpret_cast<uintptr_t>(p) % kVecBytes) / static_cast<int>(sizeof(T));
  const int head = mis == 0 ? 0 : (v - mis < n ? v - mis : n);
  const int nvec = (n - head) / v;
  return {head, nvec, head + nvec * v};
}

// Hands thread `tid` of `nt` its share of a plane of n elements laid out as rows of `cols`:
// f.vec(q, r, c) for the packs starting at linear index q = (r, c) (the pack may wrap onto
// following rows), then f.one(q, r, c) for the scalar head and tail. Consecutive threads
// take consecutive packs, so the accesses of a warp are contiguous.
template <int V, typename F>
__host__ __device__ inline void visit_plane(const Split& sp, int n, int cols, int tid, int nt,
                                            F& f) {
  const int step = nt * V;
  const int dr = step / cols;
  const int dc = step % cols;
  int q = sp.head + tid * V;
  int r = q / cols;
  int c = q % cols;
  for (int k = tid; k < sp.nvec; k += nt) {
    f.vec(q, r, c);
    q += step;
    r += dr;
    c += dc;
    if (c >= cols) {
      c -= cols;
      ++r;
    }
  }
  const int nscalar = sp.head + (n - sp.tail);
  for (int i = tid; i < nscalar; i += nt) {
    const int e = i < sp.head ? i : sp.tail + (i - sp.head);
    f.one(e, e / cols, e % cols);
  }
}

// Welford state: count, mean and M2 = sum((v - mean)^2).
struct Stat {
  float n, mean, m2;
};

// Chan et al.'s pairwise merge of two Welford states.
__host__ __device__ inline Stat combine(const Stat& a, const Stat& b) {
  if (b.n == 0.f) return a;
  if (a.n == 0.f) return b;
  const float n = a.n + b.n;
  const float delta = b.mean - a.mean;
  const float fb = b.n / n;
  return {n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb};
}

template <int V>
__host__ __device__ inline Stat chunk_stat(const float (&v)[V]) {
  float s = 0.f;
  CYCLEGAN_UNROLL
  for (int k = 0; k < V; ++k) s += v[k];
  const float mean = s * (1.0f / V);
  float m2 = 0.f;
  CYCLEGAN_UNROLL
  for (int k = 0; k < V; ++k) {
    const float d = v[k] - mean;
    m2 += d * d;
  }
  return {static_cast<float>(V), mean, m2};
}

// Welford state of thread `tid`'s share of the n elements of plane xp. Loads kUnroll packs
// before merging any, to keep several 16-byte loads in flight per thread.
template <typename T>
__host__ __device__ Stat thread_stats(const T* xp, int n, const Split& sp, int tid, int nt) {
  constexpr int V = Io<T>::kVec;
  Stat st{0.f, 0.f, 0.f};
  for (int c = tid; c < sp.nvec; c += kUnroll * nt) {
    uint4 raw[kUnroll];
    CYCLEGAN_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      const int cu = c + u * nt;
      raw[u] = cu < sp.nvec ? Io<T>::load_raw(xp + sp.head + cu * V) : make_uint4(0, 0, 0, 0);
    }
    CYCLEGAN_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      if (c + u * nt < sp.nvec) {
        float v[V];
        Io<T>::unpack(raw[u], v);
        st = combine(st, chunk_stat(v));
      }
    }
  }
  const int nscalar = sp.head + (n - sp.tail);
  for (int i = tid; i < nscalar; i += nt) {
    const int e = i < sp.head ? i : sp.tail + (i - sp.head);
    st = combine(st, Stat{1.f, Io<T>::load(xp + e), 0.f});
  }
  return st;
}

__host__ __device__ inline float plane_rstd(const Stat& st, int n, float eps) {
  return 1.0f / sqrtf(st.m2 / static_cast<float>(n) + eps);
}

template <bool RELU>
__host__ __device__ inline float activate(float v) {
  if constexpr (RELU) return v < 0.f ? 0.f : v;
  return v;
}

// act'(xhat) * g, with ReLU's gradient zero where its output is <= 0 (as torch).
template <bool RELU>
__host__ __device__ inline float act_grad(float g, float xhat) {
  if constexpr (RELU) return xhat <= 0.f ? 0.f : g;
  return g;
}

// Writes the padded output plane: y(ho, wo) = act(xhat) + skip at the reflected source
// (r, c); the skip plane has rows skip_rs elements apart (a strided view, not copied).
template <typename T, bool RELU, bool SKIP>
struct FwdWriter {
  static constexpr int V = Io<T>::kVec;
  const T* x;
  const T* skip;
  int skip_rs;
  T* y;
  Geom g;
  float mean, rstd;

  __host__ __device__ float value(int r, int c) const {
    float v = activate<RELU>((Io<T>::load(x + r * g.w + c) - mean) * rstd);
    if constexpr (SKIP) v += Io<T>::load(skip + r * skip_rs + c);
    return v;
  }
  __host__ __device__ void one(int q, int ho, int wo) const {
    Io<T>::store(y + q, value(reflect(ho - g.pad, g.h), reflect(wo - g.pad, g.w)));
  }
  __host__ __device__ void vec(int q, int ho, int wo) const {
    float v[V];
    int r = reflect(ho - g.pad, g.h);
    CYCLEGAN_UNROLL
    for (int k = 0; k < V; ++k) {
      v[k] = value(r, reflect(wo - g.pad, g.w));
      if (++wo == g.wp) {
        wo = 0;
        ++ho;
        r = reflect(ho - g.pad, g.h);
      }
    }
    Io<T>::store_vec(y + q, v);
  }
};

// Sum over the row `row` of gy (Wp wide) of the columns that copy interior column w: the
// column itself (w + pad), the left mirror pad - w when 1 <= w <= pad, and the right mirror
// pad + 2W - 2 - w when W - 1 - pad <= w <= W - 2 (reflect() solved for the padded index).
template <typename T>
__host__ __device__ inline float fold_row(const T* row, int w, const Geom& g) {
  float s = Io<T>::load(row + w + g.pad);
  if (w >= 1 && w <= g.pad) s += Io<T>::load(row + g.pad - w);
  if (w >= g.w - 1 - g.pad && w <= g.w - 2) s += Io<T>::load(row + g.pad + 2 * g.w - 2 - w);
  return s;
}

// g(h, w): the same rule on rows, times the column rule, so up to 3 x 3 positions of gy
// (both mirrors of an axis apply at once when pad is close to its length).
template <typename T>
__host__ __device__ inline float fold(const T* gyp, int h, int w, const Geom& g) {
  float s = fold_row(gyp + (h + g.pad) * g.wp, w, g);
  if (h >= 1 && h <= g.pad) s += fold_row(gyp + (g.pad - h) * g.wp, w, g);
  if (h >= g.h - 1 - g.pad && h <= g.h - 2) {
    s += fold_row(gyp + (g.pad + 2 * g.h - 2 - h) * g.wp, w, g);
  }
  return s;
}

// Where backward gets xhat at interior (h, w) of a plane: from x, or (FROM_OUT, the skip
// form's backward from its own padded output) as y(h+pad, w+pad) - skip(h, w), with skip
// rows skip_rs elements apart. Only the first reads x, so only it loads x packs in the walk.
template <typename T, bool FROM_OUT>
struct XhatSource {
  const T* x;
  const T* yo;
  const T* skip;
  int skip_rs;
  float mean, rstd;

  // xv is x(h, w) where the walk loaded it (not FROM_OUT), else unused.
  __host__ __device__ float at(float xv, int h, int w, const Geom& g) const {
    if constexpr (FROM_OUT) {
      return Io<T>::load(yo + (h + g.pad) * g.wp + w + g.pad) - Io<T>::load(skip + h * skip_rs + w);
    }
    return (xv - mean) * rstd;
  }
  __host__ __device__ float one(int q) const { return FROM_OUT ? 0.f : Io<T>::load(x + q); }
  __host__ __device__ void vec(int q, float (&v)[Io<T>::kVec]) const {
    if constexpr (FROM_OUT) {
      for (float& e : v) e = 0.f;
    } else {
      Io<T>::load_vec(x + q, v);
    }
  }
};

// Backward pass 1: accumulates sum(gm) and sum(gm * xhat) over a thread's share.
template <typename T, bool RELU, bool FROM_OUT>
struct BwdReducer {
  static constexpr int V = Io<T>::kVec;
  const T* gy;
  XhatSource<T, FROM_OUT> src;
  Geom g;
  float sum_gm = 0.f, sum_gmx = 0.f;

  __host__ __device__ void add(float xv, int h, int w) {
    const float xhat = src.at(xv, h, w, g);
    const float gm = act_grad<RELU>(fold(gy, h, w, g), xhat);
    sum_gm += gm;
    sum_gmx += gm * xhat;
  }
  __host__ __device__ void one(int q, int h, int w) { add(src.one(q), h, w); }
  __host__ __device__ void vec(int q, int h, int w) {
    float xv[V];
    src.vec(q, xv);
    CYCLEGAN_UNROLL
    for (int k = 0; k < V; ++k) {
      add(xv[k], h, w);
      if (++w == g.w) {
        w = 0;
        ++h;
      }
    }
  }
};

// Backward pass 2: gx = rstd * (gm - c_gm - xhat * c_gmx) with c_* the plane means, and
// gskip = g.
template <typename T, bool RELU, bool GSKIP, bool FROM_OUT>
struct BwdWriter {
  static constexpr int V = Io<T>::kVec;
  const T* gy;
  XhatSource<T, FROM_OUT> src;
  T* gx;
  T* gskip;
  Geom g;
  float rstd, c_gm, c_gmx;

  __host__ __device__ float grad_x(float xv, float gv, int h, int w) const {
    const float xhat = src.at(xv, h, w, g);
    return rstd * (act_grad<RELU>(gv, xhat) - c_gm - xhat * c_gmx);
  }
  __host__ __device__ void one(int q, int h, int w) const {
    const float gv = fold(gy, h, w, g);
    Io<T>::store(gx + q, grad_x(src.one(q), gv, h, w));
    if constexpr (GSKIP) Io<T>::store(gskip + q, gv);
  }
  __host__ __device__ void vec(int q, int h, int w) const {
    float xv[V], gxv[V], gv[V];
    src.vec(q, xv);
    CYCLEGAN_UNROLL
    for (int k = 0; k < V; ++k) {
      gv[k] = fold(gy, h, w, g);
      gxv[k] = grad_x(xv[k], gv[k], h, w);
      if (++w == g.w) {
        w = 0;
        ++h;
      }
    }
    Io<T>::store_vec(gx + q, gxv);
    if constexpr (GSKIP) Io<T>::store_vec(gskip + q, gv);
  }
};

struct Sum2 {
  float a, b;
};

__host__ __device__ inline Sum2 combine(const Sum2& x, const Sum2& y) {
  return {x.a + y.a, x.b + y.b};
}

// Combines one value per thread over the block and returns the total to every thread.
// smem holds 33 values; it is free again on return.
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

template <typename T, bool RELU, bool SKIP>
struct FwdKernel {
  static constexpr const char* kName = "norm_act_pad_fwd_kernel";
  struct Args {
    const T* x;
    const T* skip;
    SkipLayout skip_layout;
    T* y;
    float* mean;
    float* rstd;
    int64_t planes;
    Geom g;
    float eps;
  };
  struct Shared {
    Stat stat[33];
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.g;
    const int n = g.h * g.w;
    const int nout = g.hp * g.wp;
    const int tid = ctx.tid();
    const int nt = ctx.nthreads();
    for (int64_t p = ctx.block(); p < a.planes; p += ctx.nblocks()) {
      const T* xp = a.x + p * n;
      const Stat st =
          block_reduce(ctx, thread_stats(xp, n, split_plane(xp, n, true), tid, nt), sh.stat);
      const float rstd = plane_rstd(st, n, a.eps);
      if (tid == 0) {
        a.mean[p] = st.mean;
        a.rstd[p] = rstd;
      }
      T* yp = a.y + p * nout;
      const T* sp = SKIP ? a.skip + a.skip_layout.plane_offset(p) : nullptr;
      FwdWriter<T, RELU, SKIP> writer{xp, sp, a.skip_layout.h, yp, g, st.mean, rstd};
      visit_plane<Io<T>::kVec>(split_plane(yp, nout, true), nout, g.wp, tid, nt, writer);
    }
  }
};

// `vectorize`: x (unless FROM_OUT), gx and gskip share one alignment mod 16 bytes, so one
// split of the plane fits all of them. FROM_OUT: xhat from yout and skip (see XhatSource),
// x and mean unused.
template <typename T, bool RELU, bool GSKIP, bool FROM_OUT>
struct BwdKernel {
  static constexpr const char* kName = "norm_act_pad_bwd_kernel";
  struct Args {
    const T* gy;
    const T* x;
    const T* yout;
    const T* skip;
    SkipLayout skip_layout;
    const float* mean;
    const float* rstd;
    T* gx;
    T* gskip;
    int64_t planes;
    Geom g;
    bool vectorize;
  };
  struct Shared {
    Sum2 sum[33];
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.g;
    const int n = g.h * g.w;
    const int nout = g.hp * g.wp;
    const int tid = ctx.tid();
    const int nt = ctx.nthreads();
    constexpr int V = Io<T>::kVec;
    for (int64_t p = ctx.block(); p < a.planes; p += ctx.nblocks()) {
      const T* gyp = a.gy + p * nout;
      T* gxp = a.gx + p * n;
      const Split sp = split_plane(gxp, n, a.vectorize);
      const float r = a.rstd[p];
      const XhatSource<T, FROM_OUT> src{
          FROM_OUT ? nullptr : a.x + p * n,
          FROM_OUT ? a.yout + p * nout : nullptr,
          FROM_OUT ? a.skip + a.skip_layout.plane_offset(p) : nullptr,
          a.skip_layout.h,
          FROM_OUT ? 0.f : a.mean[p],
          r};
      BwdReducer<T, RELU, FROM_OUT> reducer{gyp, src, g};
      visit_plane<V>(sp, n, g.w, tid, nt, reducer);
      const Sum2 s = block_reduce(ctx, Sum2{reducer.sum_gm, reducer.sum_gmx}, sh.sum);
      const float inv_n = 1.0f / static_cast<float>(n);
      T* gskip_p = GSKIP ? a.gskip + p * n : nullptr;
      BwdWriter<T, RELU, GSKIP, FROM_OUT> writer{
          gyp, src, gxp, gskip_p, g, r, s.a * inv_n, s.b * inv_n};
      visit_plane<V>(sp, n, g.w, tid, nt, writer);
    }
  }
};

// ---- host side: validation, launch configuration, dispatch ----

inline void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("cuda norm_act_pad: ") + what);
}

inline Geom make_geom(const PlaneShape& s) {
  if (s.planes < 0 || s.h < 1 || s.w < 1 || s.pad < 0 || s.pad >= s.h || s.pad >= s.w) {
    throw std::invalid_argument("cuda norm_act_pad: invalid shape (planes=" +
                                std::to_string(s.planes) + ", h=" + std::to_string(s.h) +
                                ", w=" + std::to_string(s.w) + ", pad=" + std::to_string(s.pad) +
                                "); need h, w >= 1 and 0 <= pad < min(h, w)");
  }
  const int64_t hp = s.h + 2 * s.pad;
  const int64_t wp = s.w + 2 * s.pad;
  if (hp > kMaxPlaneElems || wp > kMaxPlaneElems || hp * wp > kMaxPlaneElems) {
    throw std::invalid_argument("cuda norm_act_pad: plane of " + std::to_string(hp) + " x " +
                                std::to_string(wp) + " is too large");
  }
  return {static_cast<int>(s.h), static_cast<int>(s.w), static_cast<int>(s.pad),
          static_cast<int>(hp), static_cast<int>(wp)};
}

// Threads per block: about 16 elements of the padded plane per thread, 128 to 1024.
inline int block_threads(const Geom& g) {
  const int64_t elems = int64_t{g.hp} * g.wp;
  int t = 128;
  while (t < kMaxThreads && int64_t{t} * 16 < elems) t *= 2;
  return t;
}

inline unsigned grid_blocks(int64_t planes) {
  return static_cast<unsigned>(planes < INT_MAX ? planes : INT_MAX);
}

template <typename T>
bool element_aligned(const void* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0;
}

inline uintptr_t residue(const void* p) { return reinterpret_cast<uintptr_t>(p) % kVecBytes; }

inline void require_act(Act act) {
  require(act == Act::None || act == Act::Relu, "act must be None or Relu");
}

[[noreturn]] inline void unsupported_dtype(DType dtype) {
  throw std::invalid_argument("cuda norm_act_pad: unsupported dtype (code " +
                              std::to_string(static_cast<int>(dtype)) +
                              "); float32, float16 and bfloat16 only");
}

// Calls f(T{}) with T the element type of `dtype`.
template <typename F>
void with_dtype(DType dtype, F&& f) {
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
      unsupported_dtype(dtype);
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

// The skip's layout, checked so that every in-plane index stays an int.
inline SkipLayout skip_layout(const SkipStrides& st, const PlaneShape& s) {
  require(st.channels >= 1 && s.planes % st.channels == 0, "skip channels do not divide planes");
  require(st.n >= 0 && st.c >= 0 && st.h >= s.w, "skip strides must be >= 0 and rows >= W apart");
  require((s.h - 1) * st.h + s.w <= kMaxPlaneElems, "skip rows too far apart");
  return {st.channels, st.n, st.c, static_cast<int>(st.h)};
}

template <class L>
void dispatch_fwd(const L& launcher, DType dtype, const void* x, const void* skip,
                  SkipStrides skip_strides, void* y, float* mean, float* rstd, PlaneShape s,
                  Act act, float eps) {
  const Geom g = make_geom(s);
  require_act(act);
  with_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (s.planes == 0) return;
    require(x && y && mean && rstd, "null x, y, mean or rstd pointer");
    require(element_aligned<T>(x) && element_aligned<T>(skip) && element_aligned<T>(y),
            "data pointers are not aligned to the element size");
    const SkipLayout sl = skip ? skip_layout(skip_strides, s) : SkipLayout{1, 0, 0, 0};
    with_flag(act == Act::Relu, [&](auto relu) {
      with_flag(skip != nullptr, [&](auto has_skip) {
        using K = FwdKernel<T, decltype(relu)::value, decltype(has_skip)::value>;
        launcher.template launch<K>(
            grid_blocks(s.planes), block_threads(g),
            typename K::Args{static_cast<const T*>(x), static_cast<const T*>(skip), sl,
                             static_cast<T*>(y), mean, rstd, s.planes, g, eps});
      });
    });
  });
}

template <class L>
void dispatch_bwd(const L& launcher, DType dtype, const void* gy, const void* x,
                  const float* mean, const float* rstd, void* gx, void* gskip, PlaneShape s,
                  Act act) {
  const Geom g = make_geom(s);
  require_act(act);
  with_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (s.planes == 0) return;
    require(gy && x && mean && rstd && gx, "null gy, x, mean, rstd or gx pointer");
    require(element_aligned<T>(gy) && element_aligned<T>(x) && element_aligned<T>(gx) &&
                element_aligned<T>(gskip),
            "data pointers are not aligned to the element size");
    const bool vectorize =
        residue(x) == residue(gx) && (gskip == nullptr || residue(x) == residue(gskip));
    with_flag(act == Act::Relu, [&](auto relu) {
      with_flag(gskip != nullptr, [&](auto has_gskip) {
        using K = BwdKernel<T, decltype(relu)::value, decltype(has_gskip)::value, false>;
        launcher.template launch<K>(
            grid_blocks(s.planes), block_threads(g),
            typename K::Args{static_cast<const T*>(gy), static_cast<const T*>(x), nullptr,
                             nullptr, SkipLayout{1, 0, 0, 0}, mean, rstd, static_cast<T*>(gx),
                             static_cast<T*>(gskip), s.planes, g, vectorize});
      });
    });
  });
}

template <class L>
void dispatch_add_bwd(const L& launcher, DType dtype, const void* gy, const void* y,
                      const void* skip, SkipStrides skip_strides, const float* rstd, void* gx,
                      void* gskip, PlaneShape s) {
  const Geom g = make_geom(s);
  with_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (s.planes == 0) return;
    require(gy && y && skip && rstd && gx && gskip,
            "null gy, y, skip, rstd, gx or gskip pointer");
    require(element_aligned<T>(gy) && element_aligned<T>(y) && element_aligned<T>(skip) &&
                element_aligned<T>(gx) && element_aligned<T>(gskip),
            "data pointers are not aligned to the element size");
    const SkipLayout sl = skip_layout(skip_strides, s);
    const bool vectorize = residue(gx) == residue(gskip);
    using K = BwdKernel<T, false, true, true>;
    launcher.template launch<K>(
        grid_blocks(s.planes), block_threads(g),
        typename K::Args{static_cast<const T*>(gy), nullptr, static_cast<const T*>(y),
                         static_cast<const T*>(skip), sl, nullptr, rstd, static_cast<T*>(gx),
                         static_cast<T*>(gskip), s.planes, g, vectorize});
  });
}

}  // namespace detail
}  // namespace cuda
}  // namespace cyclegan
