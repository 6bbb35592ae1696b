// cyclegan::cpu::guided_apply: the version compiled for the instruction set that the
// module's dispatcher chose for every kernel (active_isa, csrc/cpu/dispatch.cpp).
#include <cstring>

#include "guided_upsample.h"

namespace cyclegan::cpu {

const char* active_isa();

namespace base {
void guided_apply(const GuidedApply& a);
}
#ifdef CYCLEGAN_HAS_ISA_AVX2
namespace avx2 {
void guided_apply(const GuidedApply& a);
}
#endif
#ifdef CYCLEGAN_HAS_ISA_AVX512
namespace avx512 {
void guided_apply(const GuidedApply& a);
}
#endif

namespace {

using Fn = void (*)(const GuidedApply&);

Fn select() {
  const char* isa = active_isa();
#ifdef CYCLEGAN_HAS_ISA_AVX512
  if (std::strcmp(isa, "avx512") == 0) return &avx512::guided_apply;
#endif
#ifdef CYCLEGAN_HAS_ISA_AVX2
  if (std::strcmp(isa, "avx2") == 0) return &avx2::guided_apply;
#endif
  return &base::guided_apply;
}

}  // namespace

void guided_apply(const GuidedApply& a) {
  static const Fn chosen = select();
  chosen(a);
}

}  // namespace cyclegan::cpu
