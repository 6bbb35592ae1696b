// The private module cyclegan._C: the argument structs (bind_types.h) and one line per entry
// point. python/cyclegan/ops.py validates every argument before calling in.
#include <pybind11/pybind11.h>

#include "bind_types.h"
#include "common.h"
#include "guided_upsample.h"
#include "norm_act_pad.h"

namespace py = pybind11;
using cyclegan::bind::entry;
namespace cpu = cyclegan::cpu;
namespace cuda = cyclegan::cuda;

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = CYCLEGAN_VERSION;
  info["compiler"] = CYCLEGAN_COMPILER;
  info["cpu_isas"] = cpu::compiled_isas();
  info["cpu_isa"] = cpu::active_isa();
  info["cpu_threads"] = cpu::num_threads();
#ifdef CYCLEGAN_WITH_CUDA
  info["cuda"] = true;
  info["cuda_archs"] = CYCLEGAN_CUDA_ARCHS;
  info["cuda_compiler"] = CYCLEGAN_CUDA_VERSION;
  info["cuda_runtime"] = cuda::runtime_version();
  info["cuda_driver"] = cuda::driver_version();
  info["cuda_devices"] = cuda::device_count();
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
#ifdef CYCLEGAN_WITH_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  m.def("build_info", &build_info, "Build configuration and what the machine offers now.");
  m.def("set_num_threads", &cpu::set_num_threads, py::arg("n"), "Size of the CPU kernels' pool.");
  cyclegan::bind::bind_types(m, /*local=*/false);

  // CPU: NCHW-contiguous arrays, float32 or float64.
  entry(m, "cpu_norm_act_pad_fwd", &cpu::norm_act_pad_fwd, "norm_act_pad forward");
  entry(m, "cpu_norm_act_pad_bwd", &cpu::norm_act_pad_bwd, "norm_act_pad backward");
  entry(m, "cpu_norm_add_pad_bwd", &cpu::norm_add_pad_bwd, "norm_add_pad backward");
  entry(m, "cpu_guided_apply", &cpu::guided_apply, "guided upsampling: apply the grid");
#ifdef CYCLEGAN_WITH_CUDA
  // CUDA: any strides, float32, float16 or bfloat16, on args.launch.
  entry(m, "cuda_norm_act_pad_fwd", &cuda::norm_act_pad_fwd, "norm_act_pad forward");
  entry(m, "cuda_norm_act_pad_bwd", &cuda::norm_act_pad_bwd, "norm_act_pad backward");
  entry(m, "cuda_norm_add_pad_bwd", &cuda::norm_add_pad_bwd, "norm_add_pad backward");
  m.def("cuda_norm_act_pad_workspace_floats", &cuda::norm_act_pad_workspace_floats,
        py::arg("shape"), py::arg("sms"), "Workspace the norm_act_pad kernels need, in floats.");
#endif
}
