// The private module cyclegan._C: raw-pointer entry points for python/cyclegan/ops.py,
// which validates every argument before calling in. Kernels release the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>

#include "norm_act_pad.h"

namespace py = pybind11;
namespace cyclegan {
void bind_guided(py::module_& m);  // csrc/guided_bindings.cpp
}
using cyclegan::Act;
using cyclegan::DType;
using cyclegan::PlaneShape;
using cyclegan::ImageShape;
using cyclegan::Launch;
using cyclegan::Strides;

namespace {

template <typename T>
const T* ptr(uintptr_t p) {
  return reinterpret_cast<const T*>(p);
}
template <typename T>
T* mut(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

// A torch tensor's .stride(): (N, C, H, W) element strides.
using Stride4 = std::array<int64_t, 4>;
Strides strides(const Stride4& s) { return {s[0], s[1], s[2], s[3]}; }

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
  cyclegan::bind_guided(m);

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
      "cuda_workspace_floats",
      [](int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int sms) {
        return cyclegan::cuda::workspace_floats(ImageShape{n, c, h, w, pad}, sms);
      },
      py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("pad"), py::arg("sms"));
  m.def(
      "cuda_norm_act_pad_fwd",
      [](int dtype, uintptr_t x, Stride4 xs, uintptr_t skip, Stride4 ss, uintptr_t y,
         Stride4 ys, uintptr_t mean, uintptr_t rstd, int64_t n, int64_t c, int64_t h,
         int64_t w, int64_t pad, int act, double eps, int sms, uintptr_t workspace,
         int64_t workspace_floats, uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_act_pad_fwd(
            static_cast<DType>(dtype), ptr<void>(x), strides(xs), ptr<void>(skip), strides(ss),
            mut<void>(y), strides(ys), mut<float>(mean), mut<float>(rstd),
            ImageShape{n, c, h, w, pad}, static_cast<Act>(act), static_cast<float>(eps),
            Launch{sms, mut<float>(workspace), workspace_floats}, stream);
      },
      py::arg("dtype"), py::arg("x"), py::arg("x_strides"), py::arg("skip"),
      py::arg("skip_strides"), py::arg("y"), py::arg("y_strides"), py::arg("mean"),
      py::arg("rstd"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("pad"),
      py::arg("act"), py::arg("eps"), py::arg("sms"), py::arg("workspace"),
      py::arg("workspace_floats"), py::arg("stream"));
  m.def(
      "cuda_norm_act_pad_bwd",
      [](int dtype, uintptr_t gy, Stride4 gys, uintptr_t x, Stride4 xs, uintptr_t mean,
         uintptr_t rstd, uintptr_t gx, Stride4 gxs, uintptr_t gskip, Stride4 gss, int64_t n,
         int64_t c, int64_t h, int64_t w, int64_t pad, int act, int sms, uintptr_t workspace,
         int64_t workspace_floats, uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_act_pad_bwd(
            static_cast<DType>(dtype), ptr<void>(gy), strides(gys), ptr<void>(x), strides(xs),
            ptr<float>(mean), ptr<float>(rstd), mut<void>(gx), strides(gxs), mut<void>(gskip),
            strides(gss), ImageShape{n, c, h, w, pad}, static_cast<Act>(act),
            Launch{sms, mut<float>(workspace), workspace_floats}, stream);
      },
      py::arg("dtype"), py::arg("gy"), py::arg("gy_strides"), py::arg("x"),
      py::arg("x_strides"), py::arg("mean"), py::arg("rstd"), py::arg("gx"),
      py::arg("gx_strides"), py::arg("gskip"), py::arg("gskip_strides"), py::arg("n"),
      py::arg("c"), py::arg("h"), py::arg("w"), py::arg("pad"), py::arg("act"), py::arg("sms"),
      py::arg("workspace"), py::arg("workspace_floats"), py::arg("stream"));
  m.def(
      "cuda_norm_add_pad_bwd",
      [](int dtype, uintptr_t gy, Stride4 gys, uintptr_t y, Stride4 ys, uintptr_t skip,
         Stride4 ss, uintptr_t rstd, uintptr_t gx, Stride4 gxs, uintptr_t gskip, Stride4 gss,
         int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int sms, uintptr_t workspace,
         int64_t workspace_floats, uintptr_t stream) {
        py::gil_scoped_release release;
        cyclegan::cuda::norm_add_pad_bwd(
            static_cast<DType>(dtype), ptr<void>(gy), strides(gys), ptr<void>(y), strides(ys),
            ptr<void>(skip), strides(ss), ptr<float>(rstd), mut<void>(gx), strides(gxs),
            mut<void>(gskip), strides(gss), ImageShape{n, c, h, w, pad},
            Launch{sms, mut<float>(workspace), workspace_floats}, stream);
      },
      py::arg("dtype"), py::arg("gy"), py::arg("gy_strides"), py::arg("y"),
      py::arg("y_strides"), py::arg("skip"), py::arg("skip_strides"), py::arg("rstd"),
      py::arg("gx"), py::arg("gx_strides"), py::arg("gskip"), py::arg("gskip_strides"),
      py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("pad"), py::arg("sms"),
      py::arg("workspace"), py::arg("workspace_floats"), py::arg("stream"));
#endif
}
