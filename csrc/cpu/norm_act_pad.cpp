// CPU kernels of the fused instance norm (math and layout: csrc/norm_act_pad.h).
// This file is compiled once per instruction set (CYCLEGAN_ISA names the namespace);
// the inner loops are written as simple contiguous loops the compiler vectorizes.
// Planes are independent and run in parallel; each plane (at most a few hundred KB)
// is read from memory once and then revisited from cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "cpu/parallel.h"
#include "norm_act_pad.h"

namespace cyclegan::cpu::CYCLEGAN_ISA {
namespace {

// Sums of float data are taken in float SIMD lanes over short blocks and carried in
// double across blocks: vector speed with double-like accuracy on 65536-pixel planes.
constexpr int64_t kBlock = 256;

template <typename T>
double block_sum(const T* x, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += x[i];
    total += s;
  }
  return total;
}

template <typename T>
double block_sq_dev(const T* x, int64_t n, T mean) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) {
      const T d = x[i] - mean;
      s += d * d;
    }
    total += s;
  }
  return total;
}

inline int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); }

// Fills the pad-wide left/right borders of every interior row, then the pad-high
// top/bottom rows, of one Hp x Wp output plane whose interior is already written.
template <typename T>
void fill_reflect_border(T* y, int64_t h, int64_t w, int64_t pad) {
  if (pad == 0) return;
  const int64_t wp = w + 2 * pad;
  for (int64_t r = pad; r < pad + h; ++r) {
    T* row = y + r * wp;
    for (int64_t k = 0; k < pad; ++k) {
      row[pad - 1 - k] = row[pad + 1 + k];
      row[pad + w + k] = row[pad + w - 2 - k];
    }
  }
  for (int64_t k = 0; k < pad; ++k) {
    std::memcpy(y + (pad - 1 - k) * wp, y + (pad + 1 + k) * wp, sizeof(T) * wp);
    std::memcpy(y + (pad + h + k) * wp, y + (pad + h - 2 - k) * wp, sizeof(T) * wp);
  }
}

template <typename T>
void fwd_plane(const T* x, const T* skip, T* y, T* mean_out, T* rstd_out, int64_t h,
               int64_t w, int64_t pad, Act act, double eps) {
  const int64_t hw = h * w, wp = w + 2 * pad;
  const double mean_d = block_sum(x, hw) / hw;
  const double var = block_sq_dev(x, hw, static_cast<T>(mean_d)) / hw;
  const double rstd_d = 1.0 / std::sqrt(var + eps);
  const T mean = static_cast<T>(mean_d), rstd = static_cast<T>(rstd_d);
  *mean_out = mean;
  *rstd_out = rstd;
  const bool relu = act == Act::Relu;
  for (int64_t r = 0; r < h; ++r) {
    const T* xr = x + r * w;
    T* yr = y + (r + pad) * wp + pad;
    if (skip) {
      const T* sr = skip + r * w;
#pragma omp simd
      for (int64_t c = 0; c < w; ++c) {
        T v = (xr[c] - mean) * rstd;
        v = relu ? std::max(v, T(0)) : v;
        yr[c] = v + sr[c];
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < w; ++c) {
        const T v = (xr[c] - mean) * rstd;
        yr[c] = relu ? std::max(v, T(0)) : v;
      }
    }
  }
  fill_reflect_border(y, h, w, pad);
}

// g (H x W) = fold(gy): the interior of gy, plus every border value added onto the
// pixel it was copied from.
template <typename T>
void fold_plane(const T* gy, T* g, int64_t h, int64_t w, int64_t pad) {
  const int64_t wp = w + 2 * pad, hp = h + 2 * pad;
  for (int64_t r = 0; r < h; ++r) std::memcpy(g + r * w, gy + (r + pad) * wp + pad, sizeof(T) * w);
  if (pad == 0) return;
  for (int64_t ro = 0; ro < hp; ++ro) {
    const T* src = gy + ro * wp;
    T* dst = g + reflect(ro - pad, h) * w;
    if (ro < pad || ro >= pad + h) {
#pragma omp simd
      for (int64_t c = 0; c < w; ++c) dst[c] += src[pad + c];
    }
    for (int64_t k = 0; k < pad; ++k) {
      dst[1 + k] += src[pad - 1 - k];
      dst[w - 2 - k] += src[pad + w + k];
    }
  }
}

// Masks g by act'(xhat) in place and returns {sum(gm), sum(gm * xhat)}.
template <bool kRelu, typename T>
std::pair<double, double> mask_and_sums(const T* x, T mean, T rstd, T* g, int64_t hw) {
  double sum_g = 0.0, sum_gx = 0.0;
  for (int64_t b = 0; b < hw; b += kBlock) {
    const int64_t e = std::min(hw, b + kBlock);
    T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t i = b; i < e; ++i) {
      const T xh = (x[i] - mean) * rstd;
      const T gm = kRelu ? (xh > T(0) ? g[i] : T(0)) : g[i];
      g[i] = gm;
      sg += gm;
      sgx += gm * xh;
    }
    sum_g += sg;
    sum_gx += sgx;
  }
  return {sum_g, sum_gx};
}

template <typename T>
void bwd_plane(const T* gy, const T* x, T mean, T rstd, T* gx, T* gskip, int64_t h, int64_t w,
               int64_t pad, Act act) {
  const int64_t hw = h * w;
  fold_plane(gy, gx, h, w, pad);
  if (gskip) std::memcpy(gskip, gx, sizeof(T) * hw);
  const auto [sum_g, sum_gx] = act == Act::Relu ? mask_and_sums<true>(x, mean, rstd, gx, hw)
                                                : mask_and_sums<false>(x, mean, rstd, gx, hw);
  const T mg = static_cast<T>(sum_g / hw), mgx = static_cast<T>(sum_gx / hw);
#pragma omp simd
  for (int64_t i = 0; i < hw; ++i) {
    const T xh = (x[i] - mean) * rstd;
    gx[i] = rstd * (gx[i] - mg - xh * mgx);
  }
}

// Backward of the skip form from its output: xhat = interior(y) - skip, no ReLU.
template <typename T>
void add_bwd_plane(const T* gy, const T* y, const T* skip, T rstd, T* gx, T* gskip, int64_t h,
                   int64_t w, int64_t pad) {
  const int64_t wp = w + 2 * pad;
  fold_plane(gy, gx, h, w, pad);
  std::memcpy(gskip, gx, sizeof(T) * h * w);
  double sum_g = 0.0, sum_gx = 0.0;
  for (int64_t r = 0; r < h; ++r) {
    const T* yr = y + (r + pad) * wp + pad;
    const T* sr = skip + r * w;
    const T* gr = gx + r * w;
    T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t c = 0; c < w; ++c) {
      sg += gr[c];
      sgx += gr[c] * (yr[c] - sr[c]);
    }
    sum_g += sg;
    sum_gx += sgx;
  }
  const T mg = static_cast<T>(sum_g / (h * w)), mgx = static_cast<T>(sum_gx / (h * w));
  for (int64_t r = 0; r < h; ++r) {
    const T* yr = y + (r + pad) * wp + pad;
    const T* sr = skip + r * w;
    T* gr = gx + r * w;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) gr[c] = rstd * (gr[c] - mg - (yr[c] - sr[c]) * mgx);
  }
}

// NCHW-contiguous planes (ops.py makes them so): x, skip, gx and gskip are h x w at p*h*w,
// y and gy are hp x wp at p*hp*wp.
struct Planes {
  int64_t count, in, out;
};
Planes planes(const ImageShape& s) {
  return {s.n * s.c, s.h * s.w, (s.h + 2 * s.pad) * (s.w + 2 * s.pad)};
}

template <typename T>
void fwd(const NormActPadFwd& a) {
  const T* x = a.x.as<const T>();
  const T* skip = a.skip.as<const T>();
  T* y = a.y.as<T>();
  T* mean = a.mean.as<T>();
  T* rstd = a.rstd.as<T>();
  const ImageShape& s = a.shape;
  const Planes pl = planes(s);
  parallel_for(pl.count, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p)
      fwd_plane(x + p * pl.in, skip ? skip + p * pl.in : nullptr, y + p * pl.out, mean + p,
                rstd + p, s.h, s.w, s.pad, a.act, a.eps);
  });
}

template <typename T>
void bwd(const NormActPadBwd& a) {
  const T* gy = a.gy.as<const T>();
  const T* x = a.x.as<const T>();
  const T* mean = a.mean.as<const T>();
  const T* rstd = a.rstd.as<const T>();
  T* gx = a.gx.as<T>();
  T* gskip = a.gskip.as<T>();
  const ImageShape& s = a.shape;
  const Planes pl = planes(s);
  parallel_for(pl.count, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p)
      bwd_plane(gy + p * pl.out, x + p * pl.in, mean[p], rstd[p], gx + p * pl.in,
                gskip ? gskip + p * pl.in : nullptr, s.h, s.w, s.pad, a.act);
  });
}

template <typename T>
void add_bwd(const NormAddPadBwd& a) {
  const T* gy = a.gy.as<const T>();
  const T* y = a.y.as<const T>();
  const T* skip = a.skip.as<const T>();
  const T* rstd = a.rstd.as<const T>();
  T* gx = a.gx.as<T>();
  T* gskip = a.gskip.as<T>();
  const ImageShape& s = a.shape;
  const Planes pl = planes(s);
  parallel_for(pl.count, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p)
      add_bwd_plane(gy + p * pl.out, y + p * pl.out, skip + p * pl.in, rstd[p], gx + p * pl.in,
                    gskip + p * pl.in, s.h, s.w, s.pad);
  });
}

}  // namespace

// Float64 data runs in double, everything else in float (ops.py passes float32 or float64).
void norm_act_pad_fwd(const NormActPadFwd& a) {
  a.dtype == DType::Float64 ? fwd<double>(a) : fwd<float>(a);
}
void norm_act_pad_bwd(const NormActPadBwd& a) {
  a.dtype == DType::Float64 ? bwd<double>(a) : bwd<float>(a);
}
void norm_add_pad_bwd(const NormAddPadBwd& a) {
  a.dtype == DType::Float64 ? add_bwd<double>(a) : add_bwd<float>(a);
}

}  // namespace cyclegan::cpu::CYCLEGAN_ISA
