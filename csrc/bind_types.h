// The Python side of the argument structs (common.h and the ops' headers): each bound once,
// here, with keyword construction (View(data=..., strides=(n, c, h, w)), NormActPadFwd(
// dtype=..., x=..., ...)) and its fields as attributes. Included by csrc/bindings.cpp
// (cyclegan._C) and by tests/emulation/harness.cpp, whose module binds them module-locally.
// One line per field; a struct of a new entry point is one more `record` block.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>

#include "common.h"
#include "guided_upsample.h"
#include "norm_act_pad.h"

namespace cyclegan::bind {

namespace py = pybind11;

// class_<T> constructed by keyword only: T(**fields) starts from T{} and sets each field
// through its attribute, so an unknown name is an AttributeError and a wrong type a
// TypeError, as for an assignment.
template <class T>
py::class_<T> record(py::module_& m, const char* name, bool local, const char* doc) {
  py::class_<T> cls(m, name, doc, py::module_local(local));
  cls.def(py::init([](const py::kwargs& fields) {
    T value{};
    py::object self = py::cast(&value, py::return_value_policy::reference);
    for (const auto& [key, item] : fields) py::setattr(self, key, item);
    return value;
  }));
  return cls;
}

using Stride4 = std::array<int64_t, 4>;

inline void bind_types(py::module_& m, bool local) {
  py::enum_<DType>(m, "DType", py::module_local(local))
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16);
  py::enum_<Act>(m, "Act", py::module_local(local))
      .value("none", Act::None)
      .value("relu", Act::Relu);

  // View is built for every tensor of every call: a typed constructor (keywords still work)
  // costs a quarter of the generic one.
  py::class_<View>(m, "View", "An array: data address and element strides of (N, C, H, W).",
                   py::module_local(local))
      .def(py::init([](uintptr_t data, const Stride4& s) {
             return View{data, {s[0], s[1], s[2], s[3]}};
           }),
           py::kw_only(), py::arg("data") = 0, py::arg("strides") = Stride4{})
      .def_readwrite("data", &View::data)
      .def_property(
          "strides", [](const View& v) { return Stride4{v.strides.n, v.strides.c, v.strides.h,
                                                        v.strides.w}; },
          [](View& v, const Stride4& s) { v.strides = {s[0], s[1], s[2], s[3]}; });
  record<ImageShape>(m, "ImageShape", local, "x is n x c x h x w; outputs padded by pad.")
      .def_readwrite("n", &ImageShape::n)
      .def_readwrite("c", &ImageShape::c)
      .def_readwrite("h", &ImageShape::h)
      .def_readwrite("w", &ImageShape::w)
      .def_readwrite("pad", &ImageShape::pad);
  record<Launch>(m, "Launch", local, "A CUDA call's SM count, workspace and stream.")
      .def_readwrite("sms", &Launch::sms)
      .def_readwrite("workspace", &Launch::workspace)
      .def_readwrite("workspace_floats", &Launch::workspace_floats)
      .def_readwrite("stream", &Launch::stream);

  using Fwd = NormActPadFwd;
  record<Fwd>(m, "NormActPadFwd", local, "norm_act_pad forward (csrc/norm_act_pad.h).")
      .def_readwrite("dtype", &Fwd::dtype)
      .def_readwrite("x", &Fwd::x)
      .def_readwrite("skip", &Fwd::skip)
      .def_readwrite("y", &Fwd::y)
      .def_readwrite("mean", &Fwd::mean)
      .def_readwrite("rstd", &Fwd::rstd)
      .def_readwrite("shape", &Fwd::shape)
      .def_readwrite("act", &Fwd::act)
      .def_readwrite("eps", &Fwd::eps)
      .def_readwrite("launch", &Fwd::launch);
  using Bwd = NormActPadBwd;
  record<Bwd>(m, "NormActPadBwd", local, "norm_act_pad backward (csrc/norm_act_pad.h).")
      .def_readwrite("dtype", &Bwd::dtype)
      .def_readwrite("gy", &Bwd::gy)
      .def_readwrite("x", &Bwd::x)
      .def_readwrite("mean", &Bwd::mean)
      .def_readwrite("rstd", &Bwd::rstd)
      .def_readwrite("gx", &Bwd::gx)
      .def_readwrite("gskip", &Bwd::gskip)
      .def_readwrite("shape", &Bwd::shape)
      .def_readwrite("act", &Bwd::act)
      .def_readwrite("launch", &Bwd::launch);
  using AddBwd = NormAddPadBwd;
  record<AddBwd>(m, "NormAddPadBwd", local, "norm_add_pad backward from its output.")
      .def_readwrite("dtype", &AddBwd::dtype)
      .def_readwrite("gy", &AddBwd::gy)
      .def_readwrite("y", &AddBwd::y)
      .def_readwrite("skip", &AddBwd::skip)
      .def_readwrite("rstd", &AddBwd::rstd)
      .def_readwrite("gx", &AddBwd::gx)
      .def_readwrite("gskip", &AddBwd::gskip)
      .def_readwrite("shape", &AddBwd::shape)
      .def_readwrite("launch", &AddBwd::launch);
  record<GuidedApply>(m, "GuidedApply", local, "guided upsampling's apply (guided_upsample.h).")
      .def_readwrite("src", &GuidedApply::src)
      .def_readwrite("dst", &GuidedApply::dst)
      .def_readwrite("grid", &GuidedApply::grid)
      .def_readwrite("height", &GuidedApply::height)
      .def_readwrite("width", &GuidedApply::width)
      .def_readwrite("row_begin", &GuidedApply::row_begin)
      .def_readwrite("row_end", &GuidedApply::row_end)
      .def_readwrite("ny", &GuidedApply::ny)
      .def_readwrite("nx", &GuidedApply::nx)
      .def_readwrite("nz", &GuidedApply::nz)
      .def_readwrite("threads", &GuidedApply::threads);
}

// An entry point: fn(args) with the GIL released (kernels run for milliseconds and may
// use the CPU pool).
template <class Args>
void entry(py::module_& m, const char* name, void (*fn)(const Args&), const char* doc) {
  m.def(
      name,
      [fn](const Args& a) {
        py::gil_scoped_release release;
        fn(a);
      },
      py::arg("args"), doc);
}

}  // namespace cyclegan::bind
