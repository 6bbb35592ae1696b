// Every CPU entry point, declared once per instruction set: each kernel file is compiled
// once per ISA into cyclegan::cpu::<isa> (CYCLEGAN_ISA names it, cmake/CycleganCpuIsa.cmake),
// and csrc/cpu/dispatch.cpp forwards the public cyclegan::cpu API to best_isa()'s.
// One line per entry point.
#pragma once

#include "norm_act_pad.h"

#define CYCLEGAN_DECLARE_ISA(isa)                 \
  namespace cyclegan::cpu::isa {                  \
  void norm_act_pad_fwd(const NormActPadFwd& a);  \
  void norm_act_pad_bwd(const NormActPadBwd& a);  \
  void norm_add_pad_bwd(const NormAddPadBwd& a);  \
  }

CYCLEGAN_DECLARE_ISA(base)
CYCLEGAN_DECLARE_ISA(avx2)
CYCLEGAN_DECLARE_ISA(avx512)
#undef CYCLEGAN_DECLARE_ISA
