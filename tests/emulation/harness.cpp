// CPU emulation of the CUDA kernels in csrc/cuda/kernels.cuh, for tests/test_cuda_emulation.py.
// nvcc compiles this file as plain host C++ (with the CUDA headers; no GPU or driver needed)
// into a shared library that the test loads with ctypes. Its emu_* functions take the
// arguments of the cyclegan::cuda API and run the very dispatch code and kernel bodies the
// GPU runs, with this file's thread context and launcher:
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
#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "cuda/kernels.cuh"

namespace {

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

// The thread context of kernels.cuh for one emulated thread.
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

// Runs f, returning 0, or the exception's message in err and 1.
template <typename F>
int guarded(char* err, size_t errlen, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, errlen, "%s", e.what());
    return 1;
  }
}

template <typename T>
const T* cptr(uintptr_t p) {
  return reinterpret_cast<const T*>(p);
}
template <typename T>
T* mptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

Strides strides(const int64_t* s) { return {s[0], s[1], s[2], s[3]}; }

}  // namespace

// Strides are passed as arrays of 4 elements (N, C, H, W); sms and the workspace as the
// cyclegan::cuda API takes them (Launch).
extern "C" {

int64_t emu_workspace_floats(int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int sms,
                             char* err, size_t errlen) {
  int64_t out = -1;
  guarded(err, errlen, [&] { out = workspace_need(ImageShape{n, c, h, w, pad}, sms); });
  return out;
}

int emu_chunks(int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int sms,
               int channels_adjacent) {
  return make_tiles(ImageShape{n, c, h, w, pad}, sms, channel_group(c, channels_adjacent != 0))
      .chunks;
}

int emu_norm_act_pad_fwd(int dtype, uintptr_t x, const int64_t* xs, uintptr_t skip,
                         const int64_t* ss, uintptr_t y, const int64_t* ys, uintptr_t mean,
                         uintptr_t rstd, int64_t n, int64_t c, int64_t h, int64_t w,
                         int64_t pad, int act, double eps, int sms, uintptr_t ws,
                         int64_t ws_floats, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    dispatch_fwd(EmuLauncher{}, static_cast<DType>(dtype), cptr<void>(x), strides(xs),
                 cptr<void>(skip), strides(ss), mptr<void>(y), strides(ys), mptr<float>(mean),
                 mptr<float>(rstd), ImageShape{n, c, h, w, pad}, static_cast<Act>(act),
                 static_cast<float>(eps), Launch{sms, mptr<float>(ws), ws_floats});
  });
}

int emu_norm_act_pad_bwd(int dtype, uintptr_t gy, const int64_t* gys, uintptr_t x,
                         const int64_t* xs, uintptr_t mean, uintptr_t rstd, uintptr_t gx,
                         const int64_t* gxs, uintptr_t gskip, const int64_t* gss, int64_t n,
                         int64_t c, int64_t h, int64_t w, int64_t pad, int act, int sms,
                         uintptr_t ws, int64_t ws_floats, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    dispatch_bwd(EmuLauncher{}, static_cast<DType>(dtype), cptr<void>(gy), strides(gys),
                 cptr<void>(x), strides(xs), cptr<float>(mean), cptr<float>(rstd),
                 mptr<void>(gx), strides(gxs), mptr<void>(gskip), strides(gss),
                 ImageShape{n, c, h, w, pad}, static_cast<Act>(act),
                 Launch{sms, mptr<float>(ws), ws_floats});
  });
}

int emu_norm_add_pad_bwd(int dtype, uintptr_t gy, const int64_t* gys, uintptr_t y,
                         const int64_t* ys, uintptr_t skip, const int64_t* ss, uintptr_t rstd,
                         uintptr_t gx, const int64_t* gxs, uintptr_t gskip, const int64_t* gss,
                         int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int sms,
                         uintptr_t ws, int64_t ws_floats, char* err, size_t errlen) {
  return guarded(err, errlen, [&] {
    dispatch_add_bwd(EmuLauncher{}, static_cast<DType>(dtype), cptr<void>(gy), strides(gys),
                     cptr<void>(y), strides(ys), cptr<void>(skip), strides(ss),
                     cptr<float>(rstd), mptr<void>(gx), strides(gxs), mptr<void>(gskip),
                     strides(gss), ImageShape{n, c, h, w, pad},
                     Launch{sms, mptr<float>(ws), ws_floats});
  });
}
}
