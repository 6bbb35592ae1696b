// Chooses, once, the best compiled instruction set the running CPU supports.
#include <cstring>

#include "cpu/kernels.h"

namespace cyclegan::cpu {
namespace {

using Fwd = decltype(&base::norm_act_pad_fwd);
using Bwd = decltype(&base::norm_act_pad_bwd);
using AddBwd = decltype(&base::norm_add_pad_bwd);

struct Impl {
  const char* name;
  Fwd fwd;
  Bwd bwd;
  AddBwd add_bwd;
};

Impl select() {
#if defined(CYCLEGAN_HAS_ISA_AVX512) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return {"avx512", avx512::norm_act_pad_fwd, avx512::norm_act_pad_bwd,
            avx512::norm_add_pad_bwd};
#endif
#if defined(CYCLEGAN_HAS_ISA_AVX2) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"avx2", avx2::norm_act_pad_fwd, avx2::norm_act_pad_bwd, avx2::norm_add_pad_bwd};
#endif
  return {"base", base::norm_act_pad_fwd, base::norm_act_pad_bwd, base::norm_add_pad_bwd};
}

const Impl& impl() {
  static const Impl chosen = select();
  return chosen;
}

}  // namespace

void norm_act_pad_fwd(DType dtype, const void* x, const void* skip, void* y, void* mean,
                      void* rstd, PlaneShape s, Act act, double eps) {
  impl().fwd(dtype, x, skip, y, mean, rstd, s, act, eps);
}

void norm_act_pad_bwd(DType dtype, const void* gy, const void* x, const void* mean,
                      const void* rstd, void* gx, void* gskip, PlaneShape s, Act act) {
  impl().bwd(dtype, gy, x, mean, rstd, gx, gskip, s, act);
}

void norm_add_pad_bwd(DType dtype, const void* gy, const void* y, const void* skip,
                      const void* rstd, void* gx, void* gskip, PlaneShape s) {
  impl().add_bwd(dtype, gy, y, skip, rstd, gx, gskip, s);
}

const char* active_isa() { return impl().name; }
const char* compiled_isas() { return CYCLEGAN_CPU_ISAS; }

}  // namespace cyclegan::cpu
