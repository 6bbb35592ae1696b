// What the CUDA runtime and driver offer now (build_info). Never throws: any error there
// (no driver, a driver older than the runtime, no device) reads as "none".
#include <cuda_runtime.h>

#include "common.h"

namespace cyclegan::cuda {
namespace {

template <typename F>
int query(F&& f) {
  int v = 0;
  if (f(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

}  // namespace

int device_count() { return query(cudaGetDeviceCount); }
int runtime_version() { return query(cudaRuntimeGetVersion); }
int driver_version() { return query(cudaDriverGetVersion); }

}  // namespace cyclegan::cuda
