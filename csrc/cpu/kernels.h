// Per-instruction-set entry points of the CPU kernels; csrc/cpu/dispatch.cpp implements
// the public cyclegan::cpu API on top of them.
#pragma once

#include "norm_act_pad.h"

#define CYCLEGAN_DECLARE_ISA(isa)                                                              \
  namespace cyclegan::cpu::isa {                                                              \
  void norm_act_pad_fwd(DType dtype, const void* x, const void* skip, void* y, void* mean,    \
                        void* rstd, PlaneShape s, Act act, double eps);                       \
  void norm_act_pad_bwd(DType dtype, const void* gy, const void* x, const void* mean,         \
                        const void* rstd, void* gx, void* gskip, PlaneShape s, Act act);      \
  void norm_add_pad_bwd(DType dtype, const void* gy, const void* y, const void* skip,         \
                        const void* rstd, void* gx, void* gskip, PlaneShape s);               \
  }

CYCLEGAN_DECLARE_ISA(base)
CYCLEGAN_DECLARE_ISA(avx2)
CYCLEGAN_DECLARE_ISA(avx512)
#undef CYCLEGAN_DECLARE_ISA
