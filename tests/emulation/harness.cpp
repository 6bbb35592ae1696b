// CPU emulation of the CUDA kernels (csrc/cuda/*.cuh), for tests/test_cuda_emulation.py.
// nvcc compiles this file as plain host C++ (with the CUDA headers; no GPU or driver needed)
// into a Python extension module, _emulation. It binds the argument structs exactly as
// cyclegan._C does (csrc/bind_types.h, module-locally), and its entry points take them as
// the cyclegan::cuda ones do and run the very dispatch code and kernel bodies the GPU
// runs, with this file's thread context and launcher:
//   grid:   the blocks run one after another;
//   block:  its threads are fibers (ucontext) with one shared-memory struct, filled with
//           0xff bytes (NaN floats) so reading shared memory before writing it shows up;
//   sync(): a barrier is a phase boundary: a thread waits until every thread of its block
//           has arrived at the same barrier;
//   warp:   shfl_down(v, off) publishes v in the lane's slot and waits until all 32 lanes
//           of the warp have published theirs, then reads lane + off (its own value past
//           lane 31), lane by lane as the hardware does.
// A scheduler pass resumes, in thread order, every fiber whose wait is over; a pass that
// resumes none means a barrier or shuffle that not every thread reaches (a hang on the GPU),
// reported as an error.
#include <pybind11/pybind11.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bind_types.h"
#include "cuda/norm_act_pad.cuh"

namespace {

namespace py = pybind11;
using namespace cyclegan;
using namespace cyclegan::cuda::detail;

constexpr int kWarp = 32;
constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kSlotBytes = 16;  // largest value a kernel shuffles

class Block {
 public:
  Block(int64_t block, int64_t nblocks, int nthreads)
      : block_(block), nblocks_(nblocks), n_(nthreads), threads_(nthreads) {
    if (nthreads % kWarp != 0) throw std::runtime_error("blockDim.x must be a multiple of 32");
    for (auto& s : slots_) s.assign(size_t(nthreads) * kSlotBytes, 0);
  }

  int64_t block() const { return block_; }
  int64_t nblocks() const { return nblocks_; }
  int nthreads() const { return n_; }

  // Runs body(tid) on every thread of the block until all have returned.
  void run(const std::function<void(int)>& body) {
    body_ = &body;
    for (int t = 0; t < n_; ++t) {
      Thread& th = threads_[t];
      th.stack.reset(new char[kStackBytes]);
      getcontext(&th.uc);
      th.uc.uc_stack.ss_sp = th.stack.get();
      th.uc.uc_stack.ss_size = kStackBytes;
      th.uc.uc_link = &scheduler_;
      makecontext(&th.uc, reinterpret_cast<void (*)()>(&Block::entry), 0);
    }
    int done = 0;
    while (done < n_) {
      const int barrier_min = min_barrier();
      bool progress = false;
      for (int t = 0; t < n_; ++t) {
        Thread& th = threads_[t];
        const bool ready =
            th.wait == Wait::Start ||
            (th.wait == Wait::Barrier && th.barriers <= barrier_min) ||
            (th.wait == Wait::Shuffle && th.shuffles <= min_shuffle(t / kWarp));
        if (!ready) continue;
        th.wait = Wait::Running;
        current_ = this;
        running_ = t;
        swapcontext(&scheduler_, &th.uc);
        if (th.wait == Wait::Running) {
          th.wait = Wait::Done;
          ++done;
        }
        progress = true;
      }
      if (!progress) {
        throw std::runtime_error("deadlock in block " + std::to_string(block_) +
                                 ": a barrier or warp shuffle is not reached by every thread");
      }
    }
  }

  void sync(int t) {
    ++threads_[t].barriers;
    yield(t, Wait::Barrier);
  }

  template <typename R>
  R shfl_down(int t, const R& v, int off) {
    static_assert(sizeof(R) <= kSlotBytes, "enlarge kSlotBytes");
    Thread& th = threads_[t];
    const int k = ++th.shuffles;
    std::vector<unsigned char>& slot = slots_[k & 1];
    std::memcpy(&slot[size_t(t) * kSlotBytes], &v, sizeof(R));
    yield(t, Wait::Shuffle);
    const int lane = t % kWarp;
    const int src = lane + off < kWarp ? t + off : t;
    R out;
    std::memcpy(&out, &slot[size_t(src) * kSlotBytes], sizeof(R));
    return out;
  }

 private:
  enum class Wait { Start, Running, Barrier, Shuffle, Done };
  struct Thread {
    ucontext_t uc;
    std::unique_ptr<char[]> stack;
    Wait wait = Wait::Start;
    int barriers = 0;  // barriers arrived at
    int shuffles = 0;  // shuffles arrived at
  };

  static void entry() {
    Block* b = current_;
    (*b->body_)(b->running_);
  }

  void yield(int t, Wait w) {
    threads_[t].wait = w;
    swapcontext(&threads_[t].uc, &scheduler_);
  }

  // A thread that has returned counts with the barriers it reached: one still waiting at a
  // later barrier then never runs again, which the scheduler reports as a deadlock.
  int min_barrier() const {
    int m = INT32_MAX;
    for (const Thread& th : threads_) m = th.barriers < m ? th.barriers : m;
    return m;
  }
  int min_shuffle(int warp) const {
    int m = INT32_MAX;
    for (int t = warp * kWarp; t < (warp + 1) * kWarp; ++t) {
      m = threads_[t].shuffles < m ? threads_[t].shuffles : m;
    }
    return m;
  }

  static inline Block* current_ = nullptr;
  static inline int running_ = 0;

  int64_t block_, nblocks_;
  int n_;
  std::vector<Thread> threads_;
  std::vector<unsigned char> slots_[2];
  ucontext_t scheduler_;
  const std::function<void(int)>* body_ = nullptr;
};

// The thread context of cuda/device.cuh for one emulated thread.
struct EmuCtx {
  Block* b;
  int t;
  int tid() const { return t; }
  int nthreads() const { return b->nthreads(); }
  int64_t block() const { return b->block(); }
  int64_t nblocks() const { return b->nblocks(); }
  void sync() const { b->sync(t); }
  template <typename R>
  R shfl_down(const R& v, int off) const {
    return b->shfl_down(t, v, off);
  }
};

struct EmuLauncher {
  template <class K>
  void launch(unsigned blocks, int threads, const typename K::Args& args) const {
    if (threads < 1 || threads > kMaxThreads) throw std::runtime_error("bad block size");
    for (unsigned bi = 0; bi < blocks; ++bi) {
      Block block(bi, blocks, threads);
      typename K::Shared shared;
      std::memset(static_cast<void*>(&shared), 0xff, sizeof shared);
      block.run([&](int t) { K::run(EmuCtx{&block, t}, args, shared); });
    }
  }
};

// The emulated entry points: as cyclegan::cuda's, on EmuLauncher. One line per entry point.
template <class Args>
using Dispatch = void (*)(const EmuLauncher&, const Args&);
template <class Args>
void emulate(py::module_& m, const char* name, Dispatch<Args> dispatch) {
  m.def(name, [dispatch](const Args& a) { dispatch(EmuLauncher{}, a); }, py::arg("args"));
}

}  // namespace

PYBIND11_MODULE(_emulation, m) {
  namespace norm = cyclegan::cuda::norm;
  cyclegan::bind::bind_types(m, /*local=*/true);
  emulate<NormActPadFwd>(m, "norm_act_pad_fwd", &norm::dispatch_fwd<EmuLauncher>);
  emulate<NormActPadBwd>(m, "norm_act_pad_bwd", &norm::dispatch_bwd<EmuLauncher>);
  emulate<NormAddPadBwd>(m, "norm_add_pad_bwd", &norm::dispatch_add_bwd<EmuLauncher>);
  m.def("norm_act_pad_workspace_floats", &norm::workspace_need, py::arg("shape"),
        py::arg("sms"));
  // Blocks per plane the launch plan gives (1: the one-block-per-plane kernels).
  m.def(
      "norm_act_pad_chunks",
      [](const ImageShape& s, int sms, bool channels_adjacent) {
        return norm::make_tiles(s, sms, norm::channel_group(s.c, channels_adjacent)).chunks;
      },
      py::arg("shape"), py::arg("sms"), py::arg("channels_adjacent"));
}
