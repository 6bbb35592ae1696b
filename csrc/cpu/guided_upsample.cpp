// CPU kernel of the full-resolution guided step (math and layout: csrc/guided_upsample.h).
// Compiled once per instruction set (CYCLEGAN_ISA names the namespace). Rows are
// independent and split over threads; per row the grid is first interpolated in y into a
// small nx x nz x 16 slice (a few KB, it stays in L1), then each pixel blends the 4 slice
// vectors around (gx, gz) and applies the 3 x 4 model. Nothing image-sized is allocated.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.h"
#include "guided_upsample.h"

namespace cyclegan::cpu::CYCLEGAN_ISA {
namespace {

constexpr int kVec = 16;  // floats per vertex

struct Axis {
  std::vector<int64_t> index;  // vertex below, at most n - 2
  std::vector<float> frac;     // weight of the vertex above
};

// Positions (i + 0.5) / count * (n - 1) of i = 0 .. count - 1 on an axis of n vertices.
Axis spatial_axis(int64_t count, int64_t n) {
  Axis a{std::vector<int64_t>(count), std::vector<float>(count)};
  for (int64_t i = 0; i < count; ++i) {
    const double g = (static_cast<double>(i) + 0.5) / static_cast<double>(count) *
                     static_cast<double>(n - 1);
    const int64_t k = std::min<int64_t>(static_cast<int64_t>(g), n - 2);
    a.index[i] = k;
    a.frac[i] = static_cast<float>(g - static_cast<double>(k));
  }
  return a;
}

// Luma L = 0..255 on an axis of n vertices: L / 255 * (n - 1).
Axis luma_axis(int64_t n) {
  Axis a{std::vector<int64_t>(256), std::vector<float>(256)};
  for (int l = 0; l < 256; ++l) {
    const double g = l / 255.0 * static_cast<double>(n - 1);
    const int64_t k = std::min<int64_t>(static_cast<int64_t>(g), n - 2);
    a.index[l] = k;
    a.frac[l] = static_cast<float>(g - static_cast<double>(k));
  }
  return a;
}

inline uint8_t to_byte(float v) {
  v = std::min(255.0f, std::max(0.0f, v));
  return static_cast<uint8_t>(std::floor(v + 0.5f));
}

void apply_rows(const GuidedApply& a, const Axis& ys, const Axis& xs, const Axis& zs,
                int64_t begin, int64_t end) {
  const float* grid = a.grid.as<const float>();
  const int64_t plane = a.nx * a.nz * kVec;  // floats in one grid row (fixed iy)
  std::vector<float> slice(plane);
  for (int64_t y = begin; y < end; ++y) {
    const int64_t iy = ys.index[y];
    const float fy = ys.frac[y];
    const float* g0 = grid + iy * plane;
    const float* g1 = g0 + plane;
    float* s = slice.data();
#pragma omp simd
    for (int64_t k = 0; k < plane; ++k) s[k] = g0[k] + fy * (g1[k] - g0[k]);

    const uint8_t* src = a.src.as<const uint8_t>() + y * a.src.strides.h;
    uint8_t* dst = a.dst.as<uint8_t>() + y * a.dst.strides.h;
    for (int64_t x = 0; x < a.width; ++x) {
      const int r = src[3 * x], g = src[3 * x + 1], b = src[3 * x + 2];
      const int l = (77 * r + 150 * g + 29 * b + 128) >> 8;
      const float fx = xs.frac[x], fz = zs.frac[l];
      const float* c0 = s + (xs.index[x] * a.nz + zs.index[l]) * kVec;  // (ix, iz)
      const float* c1 = c0 + a.nz * kVec;                                 // (ix + 1, iz)
      float m[kVec];
#pragma omp simd
      for (int k = 0; k < kVec; ++k) {
        const float lo = c0[k] + fz * (c0[kVec + k] - c0[k]);
        const float hi = c1[k] + fz * (c1[kVec + k] - c1[k]);
        m[k] = lo + fx * (hi - lo);
      }
      const float fr = static_cast<float>(r), fg = static_cast<float>(g),
                  fb = static_cast<float>(b);
      for (int c = 0; c < 3; ++c)
        dst[3 * x + c] = to_byte(m[4 * c] * fr + m[4 * c + 1] * fg + m[4 * c + 2] * fb +
                                 m[4 * c + 3]);
    }
  }
}

}  // namespace

void guided_apply(const GuidedApply& a) {
  if (a.row_end <= a.row_begin || a.width <= 0) return;
  const Axis ys = spatial_axis(a.height, a.ny), xs = spatial_axis(a.width, a.nx),
             zs = luma_axis(a.nz);
  const auto run = [&](int64_t begin, int64_t end) {
    apply_rows(a, ys, xs, zs, a.row_begin + begin, a.row_begin + end);
  };
  if (a.threads == 1) {
    run(0, a.row_end - a.row_begin);
  } else {
    parallel_for(a.row_end - a.row_begin, run);
  }
}

}  // namespace cyclegan::cpu::CYCLEGAN_ISA
