// The public cyclegan::cpu API: each entry point forwards to the version compiled for the
// best instruction set the running CPU supports, chosen once. Every kernel file is compiled
// once per ISA into cyclegan::cpu::<isa> (CYCLEGAN_ISA names it, see
// cmake/CycleganCpuIsa.cmake); CYCLEGAN_FORWARD declares those versions and defines the
// forward, so an entry point is one line below (a wrong signature fails at link time).
#include "norm_act_pad.h"

namespace cyclegan::cpu {
namespace {

enum class Isa { Base, Avx2, Avx512 };

Isa detect() {
#if defined(CYCLEGAN_HAS_ISA_AVX512) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::Avx512;
#endif
#if defined(CYCLEGAN_HAS_ISA_AVX2) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Base;
}

Isa best_isa() {
  static const Isa isa = detect();
  return isa;
}

// The versions of one entry point; best_isa() only names instruction sets that were compiled.
template <class Args>
void run(const Args& a, void (*base)(const Args&), void (*avx2)(const Args&),
         void (*avx512)(const Args&)) {
  switch (best_isa()) {
    case Isa::Avx512:
      return avx512(a);
    case Isa::Avx2:
      return avx2(a);
    default:
      return base(a);
  }
}

}  // namespace

#ifdef CYCLEGAN_HAS_ISA_AVX2
#define CYCLEGAN_AVX2(fn) &avx2::fn
#else
#define CYCLEGAN_AVX2(fn) nullptr
#endif
#ifdef CYCLEGAN_HAS_ISA_AVX512
#define CYCLEGAN_AVX512(fn) &avx512::fn
#else
#define CYCLEGAN_AVX512(fn) nullptr
#endif
#define CYCLEGAN_FORWARD(fn, Args)                                                   \
  namespace base {                                                                   \
  void fn(const Args& a);                                                            \
  }                                                                                  \
  namespace avx2 {                                                                   \
  void fn(const Args& a);                                                            \
  }                                                                                  \
  namespace avx512 {                                                                 \
  void fn(const Args& a);                                                            \
  }                                                                                  \
  void fn(const Args& a) { run<Args>(a, &base::fn, CYCLEGAN_AVX2(fn), CYCLEGAN_AVX512(fn)); }

CYCLEGAN_FORWARD(norm_act_pad_fwd, NormActPadFwd)
CYCLEGAN_FORWARD(norm_act_pad_bwd, NormActPadBwd)
CYCLEGAN_FORWARD(norm_add_pad_bwd, NormAddPadBwd)

const char* active_isa() {
  static const char* const names[] = {"base", "avx2", "avx512"};
  return names[static_cast<int>(best_isa())];
}
const char* compiled_isas() { return CYCLEGAN_CPU_ISAS; }

}  // namespace cyclegan::cpu
