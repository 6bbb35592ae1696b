// A small persistent thread pool for the CPU kernels. Work is split over planes, so one
// call is one parallel_for over [0, n) in contiguous chunks, one chunk per thread.
#pragma once

#include <cstdint>
#include <functional>

namespace cyclegan::cpu {

// Runs fn(begin, end) over [0, n) split across the pool; the caller runs one chunk itself.
// Blocks until every chunk is done. Exceptions must not escape fn.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace cyclegan::cpu
