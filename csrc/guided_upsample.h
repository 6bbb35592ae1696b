// The full-resolution step of cyclegan-infer: a grid of affine colour models, fitted at the
// working scale (python/cyclegan/infer/guided.py), applied to the full-size photo.
//
// The grid is a bilateral grid (Chen et al. 2016, "Bilateral Guided Upsampling"): ny x nx
// vertices over the image and nz over the guide's luminance, each holding a 3 x 4 affine
// colour model. A pixel (x, y) of an H x W photo with colour c = (r, g, b) in 0..255 sits at
//   gx = (x + 0.5) / W * (nx - 1),  gy = (y + 0.5) / H * (ny - 1),  gz = L / 255 * (nz - 1),
//   L  = (77 r + 150 g + 29 b + 128) >> 8            (integer luma, BT.601 weights / 256)
// and its model M is the trilinear interpolation of the 8 vertices around (gy, gx, gz);
// its output is clamp(floor(M [c; 1] + 0.5), 0, 255) per channel. Vertices ix = floor(gx)
// and ix + 1 (ix at most nx - 2; likewise y, z), weight fx = gx - ix.
//
// Layout: grid[((iy * nx + ix) * nz + iz) * 16 + k], float32, contiguous; k = 4 * c + j is
// output channel c's coefficient of r, g, b (j = 0..2) and its offset (j = 3), in 0..255
// pixel units; k = 12..15 are zero (one 16-float vector per vertex). src and dst are
// H x W x 3 uint8 Views with packed pixels: strides (0, 1, row stride, 3) in bytes (the
// N = 1 numpy case of common.h's View; only the row stride is read). Rows
// [row_begin, row_end) are written: each row is computed from its own pixels and the grid
// alone, so any split into bands gives the same bytes as the whole image.
#pragma once

#include <cstdint>

#include "common.h"

namespace cyclegan {

struct GuidedApply {
  View src, dst;                  // uint8, H x W x 3 (see above)
  View grid;                      // float32, contiguous (strides unread)
  int64_t height = 0, width = 0;  // of the whole photo
  int64_t row_begin = 0, row_end = 0;
  int64_t ny = 0, nx = 0, nz = 0;  // each >= 2
  int threads = 0;  // 0: the module's thread pool; 1: the calling thread only
};

namespace cpu {
void guided_apply(const GuidedApply& a);  // validation is the caller's (guided.py)
}  // namespace cpu

}  // namespace cyclegan
