// cyclegan._C.cpu_guided_apply (csrc/guided_upsample.h); python/cyclegan/infer/guided.py
// validates every argument before calling in. The GIL is released while it runs.
#include <pybind11/pybind11.h>

#include "guided_upsample.h"

namespace py = pybind11;

namespace cyclegan {

void bind_guided(py::module_& m) {
  m.def(
      "cpu_guided_apply",
      [](uintptr_t src, int64_t src_row_stride, uintptr_t dst, int64_t dst_row_stride,
         int64_t height, int64_t width, int64_t row_begin, int64_t row_end, uintptr_t grid,
         int64_t ny, int64_t nx, int64_t nz, int threads) {
        const GuidedApply a{src,     src_row_stride, dst,  dst_row_stride, height, width,
                            row_begin, row_end,      grid, ny,             nx,     nz,
                            threads};
        py::gil_scoped_release release;
        cpu::guided_apply(a);
      },
      py::arg("src"), py::arg("src_row_stride"), py::arg("dst"),
      py::arg("dst_row_stride"), py::arg("height"), py::arg("width"), py::arg("row_begin"),
      py::arg("row_end"), py::arg("grid"), py::arg("ny"), py::arg("nx"), py::arg("nz"),
      py::arg("threads"));
}

}  // namespace cyclegan
