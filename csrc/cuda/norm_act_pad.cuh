// Bodies of the CUDA kernels of the fused instance norm (math: csrc/norm_act_pad.h) and
// their host-side dispatch, written for the two callers of cuda/device.cuh:
// csrc/cuda/norm_act_pad.cu (the GPU) and tests/emulation/harness.cpp (the CPU replay).
// The dispatch_* functions at the end take the entry points' argument structs.
//
// Two kernel families, chosen per call by dispatch_* from the strides and the launch plan
// (make_tiles, a pure function of the shape and the SM count):
// - one block per plane (FwdKernel, BwdKernel) when x, y, gy, gx and gskip are NCHW
//   contiguous and the N*C planes give at least two blocks per SM (a block loops over
//   planes when there are more planes than blocks). Inside a plane all indices are int:
//   x, skip, gx and gskip are H x W row-major at offset p*H*W, y and gy are Hp x Wp
//   row-major at offset p*Hp*Wp, with Hp = H + 2*pad and Wp = W + 2*pad; 16-byte packs.
// - tiled (Fwd/BwdStatsKernel then Fwd/BwdApplyKernel, see "tiled kernels" below)
//   otherwise: a plane split across up to kMaxChunks blocks with partial statistics in a
//   workspace, and every tensor addressed through its strides, channels_last included
//   (a warp then spans consecutive channels).
// The math below is the same in both.
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

#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/device.cuh"
#include "norm_act_pad.h"

namespace cyclegan {
namespace cuda {
namespace norm {

using namespace detail;

constexpr int kUnroll = 4;
// Largest padded plane; keeps every in-plane index and its stride increments inside int.
constexpr int64_t kMaxPlaneElems = int64_t{1} << 30;

// N*C planes of h x w, padded by pad.
struct PlaneShape {
  int64_t planes, h, w, pad;
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

// Sum over the row `row` of gy (Wp wide, columns cs elements apart) of the columns that
// copy interior column w: the column itself (w + pad), the left mirror pad - w when
// 1 <= w <= pad, and the right mirror pad + 2W - 2 - w when W - 1 - pad <= w <= W - 2
// (reflect() solved for the padded index). I is the index type: int inside a contiguous
// plane, int64_t for strided tensors.
template <typename T, typename I>
__host__ __device__ inline float fold_row(const T* row, int w, const Geom& g, I cs) {
  float s = Io<T>::load(row + (w + g.pad) * cs);
  if (w >= 1 && w <= g.pad) s += Io<T>::load(row + (g.pad - w) * cs);
  if (w >= g.w - 1 - g.pad && w <= g.w - 2) s += Io<T>::load(row + (g.pad + 2 * g.w - 2 - w) * cs);
  return s;
}

// g(h, w): the same rule on rows (rs elements apart), times the column rule, so up to
// 3 x 3 positions of gy (both mirrors of an axis apply at once when pad is close to its
// length).
template <typename T, typename I>
__host__ __device__ inline float fold(const T* gyp, int h, int w, const Geom& g, I rs, I cs) {
  float s = fold_row(gyp + (h + g.pad) * rs, w, g, cs);
  if (h >= 1 && h <= g.pad) s += fold_row(gyp + (g.pad - h) * rs, w, g, cs);
  if (h >= g.h - 1 - g.pad && h <= g.h - 2) {
    s += fold_row(gyp + (g.pad + 2 * g.h - 2 - h) * rs, w, g, cs);
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
    const float gm = act_grad<RELU>(fold(gy, h, w, g, g.wp, 1), xhat);
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
    const float gv = fold(gy, h, w, g, g.wp, 1);
    Io<T>::store(gx + q, grad_x(src.one(q), gv, h, w));
    if constexpr (GSKIP) Io<T>::store(gskip + q, gv);
  }
  __host__ __device__ void vec(int q, int h, int w) const {
    float xv[V], gxv[V], gv[V];
    src.vec(q, xv);
    CYCLEGAN_UNROLL
    for (int k = 0; k < V; ++k) {
      gv[k] = fold(gy, h, w, g, g.wp, 1);
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

// ---- tiled kernels: a plane split across blocks, any strides (channels_last included) ----
//
// The kernels above give one block a whole NCHW-contiguous plane. With fewer planes than
// about two per SM, or with other strides, the tiled kernels below run instead (see Plan):
// a block owns `group` consecutive channels of one image (the lanes: channel
// cg*group + tid % group, so a warp reads `group` adjacent channels in channels_last)
// and one of `chunks` contiguous ranges of the plane's positions (its rows of threads,
// tid / group, stride through the range). Every element is addressed through its
// tensor's Strides in int64_t. Two launches per op, the first writing per-(plane, chunk)
// partials to the workspace at [plane * chunks + chunk]:
//   forward   stats:  Welford state (count, mean, M2) of x over the chunk's interior
//                     positions (chunking H*W);
//             apply:  merges the plane's partials in chunk order, writes mean and rstd
//                     (chunk 0), and y = act(xhat) + skip over the chunk's padded
//                     positions (chunking Hp*Wp).
//   backward  stats:  sum(gm) and sum(gm * xhat) over the chunk (chunking H*W);
//             apply:  merges them in chunk order and writes gx and gskip over the chunk.
// The partials are float Welford states (forward) and float sums (backward), as in the
// one-block kernels: Welford keeps the variance from cancelling against a large mean
// (sum/sumsq in float would not, and double is 1/64 speed on sm_86/89), and each block
// merges the same partials in the same order, so all chunks of a plane normalize with
// bit-identical statistics.

// Positions q = begin + first, begin + first + step, ... below end of a plane laid out as
// rows of `cols`: f(i, j) with (i, j) = (q / cols, q % cols), kept incrementally.
template <typename F>
__host__ __device__ inline void walk(int begin, int end, int first, int step, int cols, F&& f) {
  int q = begin + first;
  if (q >= end) return;
  int i = q / cols;
  int j = q % cols;
  const int di = step / cols;
  const int dj = step % cols;
  for (; q < end; q += step) {
    f(i, j);
    i += di;
    j += dj;
    if (j >= cols) {
      j -= cols;
      ++i;
    }
  }
}

__host__ __device__ inline void push(Stat& st, float v) {
  st.n += 1.f;
  const float d = v - st.mean;
  st.mean += d / st.n;
  st.m2 += d * (v - st.mean);
}

// How a tiled launch divides the work; block b of the grid (grid-stride over `blocks()`)
// takes channel group b / chunks and chunk b % chunks.
struct Tiles {
  int64_t n, channels;
  int group;        // channels per block: 1, or a power of two <= 32 for channels_last
  int64_t cgroups;  // channel groups per image, ceil(channels / group)
  int chunks;       // blocks per plane
  __host__ __device__ int64_t blocks() const { return n * cgroups * chunks; }
};

// Where thread tid of block b works: its plane n*C + c (valid when c < C), chunk, and
// row (its first position in the chunk) out of `rows` rows of threads.
struct TileCoord {
  int64_t plane, c;
  bool valid;
  int chunk, row, rows;
};

__host__ __device__ inline TileCoord tile_coord(const Tiles& t, int64_t b, int tid, int nt) {
  const int64_t gi = b / t.chunks;
  const int64_t img = gi / t.cgroups;
  const int64_t c = (gi % t.cgroups) * t.group + tid % t.group;
  return {img * t.channels + c, c, c < t.channels, static_cast<int>(b % t.chunks),
          tid / t.group, nt / t.group};
}

// Chunk k of `chunks` equal ranges of [0, len): [begin, end), possibly empty.
__host__ __device__ inline void chunk_range(int len, int chunks, int k, int& begin, int& end) {
  const int per = (len + chunks - 1) / chunks;
  begin = k * per < len ? k * per : len;
  end = begin + per < len ? begin + per : len;
}

__host__ __device__ inline int64_t plane_at(const Strides& s, int64_t n, int64_t c) {
  return n * s.n + c * s.c;
}

// Combines one value per thread over the threads of the same lane (tid % group, group a
// power of two <= 32) and returns lane k's total in thread k < group (others: unspecified).
// smem holds 32 x 32 values; it is free again on return.
template <class Ctx, typename R>
__host__ __device__ R group_reduce(const Ctx& ctx, R v, int group, R* smem) {
  const int lane = ctx.tid() & 31;
  const int warp = ctx.tid() >> 5;
  for (int off = 16; off >= group; off >>= 1) v = combine(v, ctx.shfl_down(v, off));
  if (lane < group) smem[warp * 32 + lane] = v;
  ctx.sync();
  R total{};
  if (ctx.tid() < group) {
    for (int w = 0; w < (ctx.nthreads() >> 5); ++w) total = combine(total, smem[w * 32 + ctx.tid()]);
  }
  ctx.sync();
  return total;
}

template <typename T>
struct FwdStatsKernel {
  static constexpr const char* kName = "norm_act_pad_fwd_stats_kernel";
  struct Args {
    const T* x;
    Strides xs;
    Stat* part;
    Tiles t;
    Geom g;
  };
  struct Shared {
    Stat red[32 * 32];
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.g;
    for (int64_t b = ctx.block(); b < a.t.blocks(); b += ctx.nblocks()) {
      const TileCoord tc = tile_coord(a.t, b, ctx.tid(), ctx.nthreads());
      Stat st{0.f, 0.f, 0.f};
      if (tc.valid) {
        const T* xp = a.x + plane_at(a.xs, tc.plane / a.t.channels, tc.c);
        int begin, end;
        chunk_range(g.h * g.w, a.t.chunks, tc.chunk, begin, end);
        walk(begin, end, tc.row, tc.rows, g.w,
             [&](int i, int j) { push(st, Io<T>::load(xp + i * a.xs.h + j * a.xs.w)); });
      }
      const Stat total = group_reduce(ctx, st, a.t.group, sh.red);
      if (ctx.tid() < a.t.group && tc.valid) a.part[tc.plane * a.t.chunks + tc.chunk] = total;
    }
  }
};

template <typename T, bool RELU, bool SKIP>
struct FwdApplyKernel {
  static constexpr const char* kName = "norm_act_pad_fwd_apply_kernel";
  struct Args {
    const T* x;
    Strides xs;
    const T* skip;
    Strides ss;
    T* y;
    Strides ys;
    float* mean;
    float* rstd;
    const Stat* part;
    Tiles t;
    Geom g;
    float eps;
  };
  struct Shared {
    float mean[32], rstd[32];
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.g;
    const int lane = ctx.tid() % a.t.group;
    for (int64_t b = ctx.block(); b < a.t.blocks(); b += ctx.nblocks()) {
      const TileCoord tc = tile_coord(a.t, b, ctx.tid(), ctx.nthreads());
      if (ctx.tid() < a.t.group && tc.valid) {
        Stat st{0.f, 0.f, 0.f};
        for (int k = 0; k < a.t.chunks; ++k) st = combine(st, a.part[tc.plane * a.t.chunks + k]);
        const float r = plane_rstd(st, g.h * g.w, a.eps);
        sh.mean[lane] = st.mean;
        sh.rstd[lane] = r;
        if (tc.chunk == 0) {
          a.mean[tc.plane] = st.mean;
          a.rstd[tc.plane] = r;
        }
      }
      ctx.sync();
      if (tc.valid) {
        const int64_t img = tc.plane / a.t.channels;
        const T* xp = a.x + plane_at(a.xs, img, tc.c);
        const T* sp = SKIP ? a.skip + plane_at(a.ss, img, tc.c) : nullptr;
        T* yp = a.y + plane_at(a.ys, img, tc.c);
        const float mean = sh.mean[lane];
        const float rstd = sh.rstd[lane];
        int begin, end;
        chunk_range(g.hp * g.wp, a.t.chunks, tc.chunk, begin, end);
        walk(begin, end, tc.row, tc.rows, g.wp, [&](int i, int j) {
          const int r = reflect(i - g.pad, g.h);
          const int c = reflect(j - g.pad, g.w);
          float v = activate<RELU>((Io<T>::load(xp + r * a.xs.h + c * a.xs.w) - mean) * rstd);
          if constexpr (SKIP) v += Io<T>::load(sp + r * a.ss.h + c * a.ss.w);
          Io<T>::store(yp + i * a.ys.h + j * a.ys.w, v);
        });
      }
      ctx.sync();
    }
  }
};

// The backward's inputs at interior (h, w) of plane (img, c) in the tiled kernels: the
// folded gradient g and xhat (from x, or FROM_OUT as y(h+pad, w+pad) - skip(h, w)).
template <typename T, bool FROM_OUT>
struct TiledBwdInputs {
  const T* gy;
  Strides gys;
  const T* x;
  Strides xs;
  const T* yout;
  Strides ys;
  const T* skip;
  Strides ss;
  const float* mean;
  const float* rstd;
  Geom g;

  struct Plane {
    const T *gy, *x, *skip;
    float mean, rstd;
  };
  __host__ __device__ Plane plane(int64_t plane, int64_t img, int64_t c) const {
    if constexpr (FROM_OUT) {
      return {gy + plane_at(gys, img, c), yout + plane_at(ys, img, c),
              skip + plane_at(ss, img, c), 0.f, rstd[plane]};
    }
    return {gy + plane_at(gys, img, c), x + plane_at(xs, img, c), nullptr, mean[plane],
            rstd[plane]};
  }
  __host__ __device__ float grad(const Plane& p, int h, int w) const {
    return fold(p.gy, h, w, g, gys.h, gys.w);
  }
  __host__ __device__ float xhat(const Plane& p, int h, int w) const {
    if constexpr (FROM_OUT) {
      return Io<T>::load(p.x + (h + g.pad) * ys.h + (w + g.pad) * ys.w) -
             Io<T>::load(p.skip + h * ss.h + w * ss.w);
    }
    return (Io<T>::load(p.x + h * xs.h + w * xs.w) - p.mean) * p.rstd;
  }
};

template <typename T, bool RELU, bool FROM_OUT>
struct BwdStatsKernel {
  static constexpr const char* kName = "norm_act_pad_bwd_stats_kernel";
  struct Args {
    TiledBwdInputs<T, FROM_OUT> in;
    Sum2* part;
    Tiles t;
  };
  struct Shared {
    Sum2 red[32 * 32];
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.in.g;
    for (int64_t b = ctx.block(); b < a.t.blocks(); b += ctx.nblocks()) {
      const TileCoord tc = tile_coord(a.t, b, ctx.tid(), ctx.nthreads());
      Sum2 s{0.f, 0.f};
      if (tc.valid) {
        const auto pl = a.in.plane(tc.plane, tc.plane / a.t.channels, tc.c);
        int begin, end;
        chunk_range(g.h * g.w, a.t.chunks, tc.chunk, begin, end);
        walk(begin, end, tc.row, tc.rows, g.w, [&](int i, int j) {
          const float xhat = a.in.xhat(pl, i, j);
          const float gm = act_grad<RELU>(a.in.grad(pl, i, j), xhat);
          s.a += gm;
          s.b += gm * xhat;
        });
      }
      const Sum2 total = group_reduce(ctx, s, a.t.group, sh.red);
      if (ctx.tid() < a.t.group && tc.valid) a.part[tc.plane * a.t.chunks + tc.chunk] = total;
    }
  }
};

template <typename T, bool RELU, bool GSKIP, bool FROM_OUT>
struct BwdApplyKernel {
  static constexpr const char* kName = "norm_act_pad_bwd_apply_kernel";
  struct Args {
    TiledBwdInputs<T, FROM_OUT> in;
    T* gx;
    Strides gxs;
    T* gskip;
    Strides gss;
    const Sum2* part;
    Tiles t;
  };
  struct Shared {
    Sum2 mean[32];  // plane means of gm and gm * xhat
  };

  template <class Ctx>
  __host__ __device__ static void run(const Ctx& ctx, const Args& a, Shared& sh) {
    const Geom& g = a.in.g;
    const int lane = ctx.tid() % a.t.group;
    const float inv_n = 1.0f / static_cast<float>(g.h * g.w);
    for (int64_t b = ctx.block(); b < a.t.blocks(); b += ctx.nblocks()) {
      const TileCoord tc = tile_coord(a.t, b, ctx.tid(), ctx.nthreads());
      if (ctx.tid() < a.t.group && tc.valid) {
        Sum2 s{0.f, 0.f};
        for (int k = 0; k < a.t.chunks; ++k) s = combine(s, a.part[tc.plane * a.t.chunks + k]);
        sh.mean[lane] = Sum2{s.a * inv_n, s.b * inv_n};
      }
      ctx.sync();
      if (tc.valid) {
        const int64_t img = tc.plane / a.t.channels;
        const auto pl = a.in.plane(tc.plane, img, tc.c);
        T* gxp = a.gx + plane_at(a.gxs, img, tc.c);
        T* gsp = GSKIP ? a.gskip + plane_at(a.gss, img, tc.c) : nullptr;
        const Sum2 m = sh.mean[lane];
        int begin, end;
        chunk_range(g.h * g.w, a.t.chunks, tc.chunk, begin, end);
        walk(begin, end, tc.row, tc.rows, g.w, [&](int i, int j) {
          const float gv = a.in.grad(pl, i, j);
          const float xhat = a.in.xhat(pl, i, j);
          Io<T>::store(gxp + i * a.gxs.h + j * a.gxs.w,
                       pl.rstd * (act_grad<RELU>(gv, xhat) - m.a - xhat * m.b));
          if constexpr (GSKIP) Io<T>::store(gsp + i * a.gss.h + j * a.gss.w, gv);
        });
      }
      ctx.sync();
    }
  }
};

// ---- host side: validation, launch configuration, dispatch ----

constexpr const char* kWho = "cuda norm_act_pad";

inline void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string(kWho) + ": " + what);
}

inline Geom make_geom(const PlaneShape& s) {
  if (s.planes < 0 || s.h < 1 || s.w < 1 || s.pad < 0 || s.pad >= s.h || s.pad >= s.w) {
    throw std::invalid_argument(std::string(kWho) + ": invalid shape (planes=" +
                                std::to_string(s.planes) + ", h=" + std::to_string(s.h) +
                                ", w=" + std::to_string(s.w) + ", pad=" + std::to_string(s.pad) +
                                "); need h, w >= 1 and 0 <= pad < min(h, w)");
  }
  const int64_t hp = s.h + 2 * s.pad;
  const int64_t wp = s.w + 2 * s.pad;
  if (hp > kMaxPlaneElems || wp > kMaxPlaneElems || hp * wp > kMaxPlaneElems) {
    throw std::invalid_argument(std::string(kWho) + ": plane of " + std::to_string(hp) + " x " +
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

inline void require_act(Act act) {
  require(act == Act::None || act == Act::Relu, "act must be None or Relu");
}

// Whether a tensor of c x h x w planes (strides st) is NCHW contiguous; the stride of a
// dimension of size 1 is never used, so it may be anything.
inline bool dense_nchw(const Strides& st, int64_t n, int64_t c, int64_t h, int64_t w) {
  return (w == 1 || st.w == 1) && (h == 1 || st.h == w) && (c == 1 || st.c == h * w) &&
         (n == 1 || st.n == c * h * w);
}

// Whether the one-block kernels can read this skip in place (unit W stride, rows far
// enough apart and within int of each other), and its SkipLayout then.
inline bool skip_in_place(const Strides& st, const ImageShape& s) {
  const int64_t rows = s.h > 1 ? st.h : s.w;
  return (s.w == 1 || st.w == 1) && st.n >= 0 && st.c >= 0 && rows >= s.w &&
         (s.h - 1) * rows + s.w <= kMaxPlaneElems;
}
inline SkipLayout skip_layout(const Strides& st, const ImageShape& s) {
  return {s.c, st.n, st.c, static_cast<int>(s.h > 1 ? st.h : s.w)};
}

inline PlaneShape plane_shape(const ImageShape& s) {
  require(s.n >= 0 && s.c >= 0, "N and C must be >= 0");
  return {s.n * s.c, s.h, s.w, s.pad};
}

// ---- launch plan of the tiled kernels (a pure function: the emulation replays it) ----

constexpr int kTileThreads = 256;
constexpr int kMaxChunks = 32;
constexpr int kMinPerThread = 2;  // fewest positions per thread in a chunk

// Channels per block: 1, or for channels_last (channels adjacent in memory) the smallest
// power of two >= C, at most 32, so a warp reads consecutive channels.
inline int channel_group(int64_t c, bool channels_adjacent) {
  int group = 1;
  while (channels_adjacent && group < 32 && group < c) group *= 2;
  return group;
}

// Chunks per plane: 1 when the channel groups alone give at least two blocks per SM;
// else enough for about two blocks per SM, but no chunk under kMinPerThread positions
// per thread row and no more than kMaxChunks.
inline Tiles make_tiles(const ImageShape& s, int sms, int group) {
  const int64_t cgroups = (s.c + group - 1) / group;
  const int64_t groups = s.n * cgroups;
  const int64_t want = 2 * int64_t{sms};
  int64_t chunks = 1;
  if (groups > 0 && groups < want) {
    const int64_t by_sm = (want + groups - 1) / groups;
    const int64_t per_chunk = int64_t{kTileThreads / group} * kMinPerThread;
    const int64_t by_size = (s.h * s.w + per_chunk - 1) / per_chunk;
    chunks = by_sm < by_size ? by_sm : by_size;
    chunks = chunks < kMaxChunks ? (chunks > 1 ? chunks : 1) : kMaxChunks;
  }
  return {s.n, s.c, group, cgroups, static_cast<int>(chunks)};
}

inline unsigned tile_grid(const Tiles& t) {
  return static_cast<unsigned>(t.blocks() < INT_MAX ? t.blocks() : INT_MAX);
}

// Floats of workspace a call needs at most: 3 per (plane, chunk) (a Stat, or a Sum2 in
// backward), for either channel grouping.
inline int64_t workspace_need(const ImageShape& s, int sms) {
  const PlaneShape ps = plane_shape(s);
  make_geom(ps);
  require(sms >= 1, "the SM count must be >= 1");
  const int c1 = make_tiles(s, sms, 1).chunks;
  const int cg = make_tiles(s, sms, channel_group(s.c, true)).chunks;
  return 3 * ps.planes * (c1 > cg ? c1 : cg);
}

template <typename P>
P* workspace(const Launch& l, const Tiles& t, int64_t planes) {
  const int64_t floats = planes * t.chunks * static_cast<int64_t>(sizeof(P) / sizeof(float));
  require(l.workspace != 0 && l.workspace_floats >= floats, "workspace too small");
  return reinterpret_cast<P*>(l.workspace);
}

// Forward: the one-block kernel for NCHW-contiguous x and y with a plane per block enough
// to fill the GPU, else the tiled stats + apply kernels.
template <class L>
void dispatch_fwd(const L& launcher, const NormActPadFwd& a) {
  const ImageShape& s = a.shape;
  const PlaneShape ps = plane_shape(s);
  const Geom g = make_geom(ps);
  require_act(a.act);
  require(a.launch.sms >= 1, "the SM count must be >= 1");
  const Strides &xs = a.x.strides, &ss = a.skip.strides, &ys = a.y.strides;
  with_dtype(a.dtype, kWho, [&](auto tag) {
    using T = decltype(tag);
    if (ps.planes == 0) return;
    const auto* x = a.x.as<const T>();
    const auto* skip = a.skip.as<const T>();
    auto* y = a.y.as<T>();
    auto* mean = a.mean.as<float>();
    auto* rstd = a.rstd.as<float>();
    require(x && y && mean && rstd, "null x, y, mean or rstd pointer");
    require(element_aligned<T>(x) && element_aligned<T>(skip) && element_aligned<T>(y),
            "data pointers are not aligned to the element size");
    const bool one_block = dense_nchw(xs, s.n, s.c, s.h, s.w) &&
                           dense_nchw(ys, s.n, s.c, g.hp, g.wp) &&
                           (skip == nullptr || skip_in_place(ss, s)) &&
                           make_tiles(s, a.launch.sms, 1).chunks == 1;
    const float eps = static_cast<float>(a.eps);
    with_flag(a.act == Act::Relu, [&](auto relu) {
      with_flag(skip != nullptr, [&](auto has_skip) {
        constexpr bool R = decltype(relu)::value, S = decltype(has_skip)::value;
        if (one_block) {
          using K = FwdKernel<T, R, S>;
          const SkipLayout sl = S ? skip_layout(ss, s) : SkipLayout{1, 0, 0, 0};
          launcher.template launch<K>(
              grid_blocks(ps.planes), block_threads(g),
              typename K::Args{x, skip, sl, y, mean, rstd, ps.planes, g, eps});
          return;
        }
        const Tiles t = make_tiles(s, a.launch.sms, channel_group(s.c, xs.c == 1));
        Stat* part = workspace<Stat>(a.launch, t, ps.planes);
        using KS = FwdStatsKernel<T>;
        launcher.template launch<KS>(tile_grid(t), kTileThreads,
                                     typename KS::Args{x, xs, part, t, g});
        using KA = FwdApplyKernel<T, R, S>;
        launcher.template launch<KA>(
            tile_grid(t), kTileThreads,
            typename KA::Args{x, xs, skip, ss, y, ys, mean, rstd, part, t, g, eps});
      });
    });
  });
}

// The tiled backward: stats then apply, xhat from x or (FROM_OUT) from y and skip.
template <typename T, bool RELU, bool GSKIP, bool FROM_OUT, class L>
void launch_tiled_bwd(const L& launcher, const TiledBwdInputs<T, FROM_OUT>& in, T* gx,
                      Strides gxs, T* gskip, Strides gss, const ImageShape& s, const Launch& l) {
  const Tiles t = make_tiles(s, l.sms, channel_group(s.c, gxs.c == 1));
  Sum2* part = workspace<Sum2>(l, t, s.n * s.c);
  using KS = BwdStatsKernel<T, RELU, FROM_OUT>;
  launcher.template launch<KS>(tile_grid(t), kTileThreads, typename KS::Args{in, part, t});
  using KA = BwdApplyKernel<T, RELU, GSKIP, FROM_OUT>;
  launcher.template launch<KA>(tile_grid(t), kTileThreads,
                               typename KA::Args{in, gx, gxs, gskip, gss, part, t});
}

template <class L>
void dispatch_bwd(const L& launcher, const NormActPadBwd& a) {
  const ImageShape& s = a.shape;
  const PlaneShape ps = plane_shape(s);
  const Geom g = make_geom(ps);
  require_act(a.act);
  require(a.launch.sms >= 1, "the SM count must be >= 1");
  const Strides &gys = a.gy.strides, &xs = a.x.strides, &gxs = a.gx.strides,
                &gss = a.gskip.strides;
  with_dtype(a.dtype, kWho, [&](auto tag) {
    using T = decltype(tag);
    if (ps.planes == 0) return;
    const auto* gy = a.gy.as<const T>();
    const auto* x = a.x.as<const T>();
    const auto* mean = a.mean.as<const float>();
    const auto* rstd = a.rstd.as<const float>();
    auto* gx = a.gx.as<T>();
    auto* gskip = a.gskip.as<T>();
    require(gy && x && mean && rstd && gx, "null gy, x, mean, rstd or gx pointer");
    require(element_aligned<T>(gy) && element_aligned<T>(x) && element_aligned<T>(gx) &&
                element_aligned<T>(gskip),
            "data pointers are not aligned to the element size");
    const bool one_block = dense_nchw(gys, s.n, s.c, g.hp, g.wp) &&
                           dense_nchw(xs, s.n, s.c, s.h, s.w) &&
                           dense_nchw(gxs, s.n, s.c, s.h, s.w) &&
                           (gskip == nullptr || dense_nchw(gss, s.n, s.c, s.h, s.w)) &&
                           make_tiles(s, a.launch.sms, 1).chunks == 1;
    const bool vectorize =
        residue(x) == residue(gx) && (gskip == nullptr || residue(x) == residue(gskip));
    with_flag(a.act == Act::Relu, [&](auto relu) {
      with_flag(gskip != nullptr, [&](auto has_gskip) {
        constexpr bool R = decltype(relu)::value, GS = decltype(has_gskip)::value;
        if (one_block) {
          using K = BwdKernel<T, R, GS, false>;
          launcher.template launch<K>(
              grid_blocks(ps.planes), block_threads(g),
              typename K::Args{gy, x, nullptr, nullptr, SkipLayout{1, 0, 0, 0}, mean, rstd,
                               gx, gskip, ps.planes, g, vectorize});
          return;
        }
        const TiledBwdInputs<T, false> in{gy, gys, x, xs, nullptr, Strides{},
                                          nullptr, Strides{}, mean, rstd, g};
        launch_tiled_bwd<T, R, GS, false>(launcher, in, gx, gxs, gskip, gss, s, a.launch);
      });
    });
  });
}

template <class L>
void dispatch_add_bwd(const L& launcher, const NormAddPadBwd& a) {
  const ImageShape& s = a.shape;
  const PlaneShape ps = plane_shape(s);
  const Geom g = make_geom(ps);
  require(a.launch.sms >= 1, "the SM count must be >= 1");
  const Strides &gys = a.gy.strides, &ys = a.y.strides, &ss = a.skip.strides,
                &gxs = a.gx.strides, &gss = a.gskip.strides;
  with_dtype(a.dtype, kWho, [&](auto tag) {
    using T = decltype(tag);
    if (ps.planes == 0) return;
    const auto* gy = a.gy.as<const T>();
    const auto* y = a.y.as<const T>();
    const auto* skip = a.skip.as<const T>();
    const auto* rstd = a.rstd.as<const float>();
    auto* gx = a.gx.as<T>();
    auto* gskip = a.gskip.as<T>();
    require(gy && y && skip && rstd && gx && gskip,
            "null gy, y, skip, rstd, gx or gskip pointer");
    require(element_aligned<T>(gy) && element_aligned<T>(y) && element_aligned<T>(skip) &&
                element_aligned<T>(gx) && element_aligned<T>(gskip),
            "data pointers are not aligned to the element size");
    const bool one_block = dense_nchw(gys, s.n, s.c, g.hp, g.wp) &&
                           dense_nchw(ys, s.n, s.c, g.hp, g.wp) && skip_in_place(ss, s) &&
                           dense_nchw(gxs, s.n, s.c, s.h, s.w) &&
                           dense_nchw(gss, s.n, s.c, s.h, s.w) &&
                           make_tiles(s, a.launch.sms, 1).chunks == 1;
    if (one_block) {
      const bool vectorize = residue(gx) == residue(gskip);
      using K = BwdKernel<T, false, true, true>;
      launcher.template launch<K>(
          grid_blocks(ps.planes), block_threads(g),
          typename K::Args{gy, nullptr, y, skip, skip_layout(ss, s), nullptr, rstd, gx, gskip,
                           ps.planes, g, vectorize});
      return;
    }
    const TiledBwdInputs<T, true> in{gy, gys, nullptr, Strides{}, y, ys, skip, ss,
                                     nullptr, rstd, g};
    launch_tiled_bwd<T, false, true, true>(launcher, in, gx, gxs, gskip, gss, s, a.launch);
  });
}

}  // namespace norm
}  // namespace cuda
}  // namespace cyclegan
