// The private module cyclegan._C: raw-pointer entry points for python/cyclegan/ops.py,
// which validates every argument before calling in. Kernels release the GIL.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "norm_act_pad.h"

namespace py = pybind11;
using cyclegan::Act;
using cyclegan::DType;
using cyclegan::PlaneShape;
using cyclegan::SkipStrides;

namespace {

template <typename T>
const T* ptr(uintptr_t p) {
  return reinterpret_cast<const T*>(p);
}
template <typename T>
T* mut(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

py::dict build_info() {
  py::dict info;
  info["version"] = CYCLEGAN_VERSION;
  info["compiler"] = CYCLEGAN_COMPILER;
  info["cpu_isas"] = cyclegan::cpu::compiled_isas();
  info["cpu_isa"] = cyclegan::cpu::active_isa();
  info["cpu_threads"] = cyclegan::cpu::num_threads();
#ifdef CYCLEGAN_WITH_CUDA
  info["cuda"] = true;
  info["cuda_archs"] = CYCLEGAN_CUDA_ARCHS;
  info["cuda_compiler"] = CYCLEGAN_CUDA_VERSION;
  info["cuda_runtime"] = cyclegan::cuda::runtime_version();
  info["cuda_driver"] = cyclegan::cuda::driver_version();
  info["cuda_devices"] = cyclegan::cuda::device_count();
#else
  info["cuda"] = false;
  info["cuda_archs"] = "";
  info["cuda_compiler"] = "";
  info["cuda_runtime"] = 0;
  info["cuda_driver"] = 0;
  info["cuda_devices"] = 0;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "cyclegan compiled kernels (private; use cyclegan.ops)";
  m.attr("has_cuda") = py::bool_(
#ifdef CYCLEGAN_WITH_CUDA
      true
#else
      false
#endif
  );
  m.def("build_info", &build_info, "Build configuration and what the machine offers now.");
  m.def("set_num_threads", &cyclegan::cpu::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &cyclegan::cpu::num_threads);

  m.def(
      "cpu_norm_act_pad_fwd",
      [](int dtype, uintptr_t x, uintptr_t skip, uintptr_t y, uintptr_t mean, uintptr_t rstd,
         int64_t planes, int64_t h, int64_t w, int64_t pad, int act, double eps) {
        py::gil_scoped_release release;
        cyclegan::cpu::norm_act_pad_fwd(static_cast<DType>(dtype), ptr<void>(x), ptr<void>(skip),
                                        mut<void>(y), mut<void>(mean), mut<void>(rstd),
                                        PlaneShape{planes, h, w, pad}, static_cast<Act>(act),
                                        eps);
      },
      py::arg("dtype"), py::arg("x"), py::arg("skip"), py::arg("y"), py::arg("mean"),
      py::arg("rstd"), py::arg("planes"), py::arg("h"), py::arg("w"), py::arg("pad"),
      py::arg("act"), py::arg("eps"));
  m.def(
      "cpu_norm_act_pad_bwd",
      [](int dtype, uintptr_t gy, uintptr_t x, uintptr_t mean, uintptr_t rstd, uintptr_t gx,
         uintptr_t gskip, int64_t planes, int64_t h, int64_t w, int64_t pad, int act) {
        py::gil_scoped_release release;
        cyclegan::cpu::norm_act_pad_bwd(static_cast<DType>(dtype), ptr<void>(gy), ptr<void>(x),
                                        ptr<void>(mean), ptr<void>(rstd), mut<void>(gx),
                                        mut<void>(gskip), PlaneShape{planes, h, w, pad},
                                        static_cast<Act>(act));
      },
      py::arg("dtype"), py::arg("gy"), py::arg("x"), py::arg("mean"), py::arg("rstd"),
      py::arg("gx"), py::arg("gskip"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("pad"), py::arg("act"));
  m.def(
      "cpu_norm_add_pad_bwd",
      [](int dtype, uintptr_t gy, uintptr_t y, uintptr_t skip, uintptr_t rstd, uintptr_t gx,
         uintptr_t gskip, int64_t planes, int64_t h, int64_t w, int64_t pad) {
        py::gil_scoped_release release;
        cyclegan::cpu::norm_add_pad_bwd(static_cast<DType>(dtype), ptr<void>(gy), ptr<void>(y),
                                        ptr<void>(skip), ptr<void>(rstd), mut<void>(gx),
                                        mut<void>(gskip), PlaneShape{planes, h, w, pad});
      },
      py::arg("dtype"), py::arg("gy"), py::arg("y"), py::arg("skip"), py::arg("rstd"),
      py::arg("gx"), py::arg("gskip"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("pad"));

#ifdef CYCLEGAN_WITH_CUDA
  m.def("cuda_device_count", &cyclegan::cuda::device_count);
  m.def(
      "cuda_norm_act_pad_fwd",
      [](int dtype, uintptr_t x, uintptr_t skip, int64_t skip_channels, int64_t skip_sn,
         int64_t skip_sc, int64_t skip_sh, uintptr_t y, uintptr_t mean, uintptr_t rstd,
         int64_t planes, int64_t h, int64_t w, int64_t pad, int act, double eps,
         uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_act_pad_fwd(
            static_cast<DType>(dtype), ptr<void>(x), ptr<void>(skip),
            SkipStrides{skip_channels, skip_sn, skip_sc, skip_sh}, mut<void>(y),
            mut<float>(mean), mut<float>(rstd), PlaneShape{planes, h, w, pad},
            static_cast<Act>(act), static_cast<float>(eps), stream);
      },
      py::arg("dtype"), py::arg("x"), py::arg("skip"), py::arg("skip_channels"),
      py::arg("skip_sn"), py::arg("skip_sc"), py::arg("skip_sh"), py::arg("y"), py::arg("mean"),
      py::arg("rstd"), py::arg("planes"), py::arg("h"), py::arg("w"), py::arg("pad"),
      py::arg("act"), py::arg("eps"), py::arg("stream"));
  m.def(
      "cuda_norm_act_pad_bwd",
      [](int dtype, uintptr_t gy, uintptr_t x, uintptr_t mean, uintptr_t rstd, uintptr_t gx,
         uintptr_t gskip, int64_t planes, int64_t h, int64_t w, int64_t pad, int act,
         uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_act_pad_bwd(static_cast<DType>(dtype), ptr<void>(gy), ptr<void>(x),
                                         ptr<float>(mean), ptr<float>(rstd), mut<void>(gx),
                                         mut<void>(gskip), PlaneShape{planes, h, w, pad},
                                         static_cast<Act>(act), stream);
      },
      py::arg("dtype"), py::arg("gy"), py::arg("x"), py::arg("mean"), py::arg("rstd"),
      py::arg("gx"), py::arg("gskip"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("pad"), py::arg("act"), py::arg("stream"));
  m.def(
      "cuda_norm_add_pad_bwd",
      [](int dtype, uintptr_t gy, uintptr_t y, uintptr_t skip, int64_t skip_channels,
         int64_t skip_sn, int64_t skip_sc, int64_t skip_sh, uintptr_t rstd, uintptr_t gx,
         uintptr_t gskip, int64_t planes, int64_t h, int64_t w, int64_t pad, uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_add_pad_bwd(
            static_cast<DType>(dtype), ptr<void>(gy), ptr<void>(y), ptr<void>(skip),
            SkipStrides{skip_channels, skip_sn, skip_sc, skip_sh}, ptr<float>(rstd),
            mut<void>(gx), mut<void>(gskip), PlaneShape{planes, h, w, pad}, stream);
      },
      py::arg("dtype"), py::arg("gy"), py::arg("y"), py::arg("skip"), py::arg("skip_channels"),
      py::arg("skip_sn"), py::arg("skip_sc"), py::arg("skip_sh"), py::arg("rstd"),
      py::arg("gx"), py::arg("gskip"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("pad"), py::arg("stream"));
#endif
}
