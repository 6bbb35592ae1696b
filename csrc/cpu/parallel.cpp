#include "cpu/parallel.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "common.h"

namespace cyclegan::cpu {
namespace {

class Pool {
 public:
  // Where the system refuses a thread (EAGAIN at a process or memory limit), the pool runs
  // with the workers it got: the calling thread always counts, so the work is still done.
  explicit Pool(int threads) : requested_(std::max(1, threads)) {
    try {
      for (int i = 1; i < requested_; ++i) workers_.emplace_back([this, i] { loop(i); });
    } catch (const std::system_error&) {
    }
    size_ = static_cast<int>(workers_.size()) + 1;
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int requested() const { return requested_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t chunks = std::min<int64_t>(size_, n);
    if (chunks <= 1) {
      fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    pending_ = chunks - 1;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    fn(0, chunk_end(0));
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  int64_t chunk_end(int64_t i) const { return n_ * (i + 1) / chunks_; }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= chunks_) continue;
      const auto* fn = fn_;
      const int64_t begin = n_ * index / chunks_, end = chunk_end(index);
      lock.unlock();
      (*fn)(begin, end);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  const int requested_;
  int size_ = 1;  // the workers started + the caller; workers never read it
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

std::mutex g_pool_mu;
std::unique_ptr<Pool> g_pool;
pid_t g_pool_pid = 0;
int g_threads = 0;  // 0: not chosen yet, use the hardware concurrency

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

int num_threads() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  return g_threads > 0 ? g_threads : default_threads();
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  g_threads = std::max(1, n);
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  // One call at a time owns the pool; concurrent callers (e.g. two Python threads)
  // wait here instead of interleaving chunks.
  std::lock_guard<std::mutex> lock(g_pool_mu);
  const int want = g_threads > 0 ? g_threads : default_threads();
  // Worker threads do not survive fork(); a child builds its own pool and deliberately
  // leaks the parent's, whose threads no longer exist there.
  if (g_pool && g_pool_pid != getpid()) (void)g_pool.release();
  if (!g_pool || g_pool->requested() != want) {
    g_pool.reset();
    g_pool = std::make_unique<Pool>(want);
    g_pool_pid = getpid();
  }
  g_pool->run(n, fn);
}

}  // namespace cyclegan::cpu
