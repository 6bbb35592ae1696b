// The CUDA entry points of the fused instance norm: its dispatch (norm_act_pad.cuh) on the
// GPU launcher.
#include "cuda/launch.cuh"
#include "cuda/norm_act_pad.cuh"

namespace cyclegan::cuda {

using detail::StreamLauncher;

void norm_act_pad_fwd(const NormActPadFwd& a) { norm::dispatch_fwd(StreamLauncher(a.launch), a); }
void norm_act_pad_bwd(const NormActPadBwd& a) { norm::dispatch_bwd(StreamLauncher(a.launch), a); }
void norm_add_pad_bwd(const NormAddPadBwd& a) {
  norm::dispatch_add_bwd(StreamLauncher(a.launch), a);
}
int64_t norm_act_pad_workspace_floats(const ImageShape& s, int sms) {
  return norm::workspace_need(s, sms);
}

}  // namespace cyclegan::cuda
