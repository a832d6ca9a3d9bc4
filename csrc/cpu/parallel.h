// The one CPU parallel loop of the core: std::thread, never OpenMP (torch ships its own libgomp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <thread>
#include <vector>

namespace wtal::cpu {

// Product of non-negative work counts, saturated at INT64_MAX (a work estimate must not overflow).
inline int64_t saturating_product(std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t f : factors) {
    if (f <= 0) return 0;
    if (__builtin_mul_overflow(r, f, &r)) return INT64_MAX;
  }
  return r;
}

// Splits [0, n) into contiguous chunks, one per thread, and calls body(begin, end) on each. Jobs with
// less than `min_work_per_thread` units of `total_work` per thread run inline, because starting a
// thread costs tens of microseconds. `requested` <= 0 means hardware_concurrency(). An exception in
// any chunk is rethrown in the caller after every thread has joined.
template <class F>
void run_parallel(int64_t n, int64_t total_work, int requested, F&& body,
                  int64_t min_work_per_thread = int64_t{1} << 16) {
  if (n <= 0) return;
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  const int64_t wanted = requested > 0 ? requested : std::max(1, hw);
  const int64_t threads =
      std::min<int64_t>({wanted, n, std::max<int64_t>(1, total_work / std::max<int64_t>(1, min_work_per_thread))});
  if (threads <= 1) {
    body(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t i = 0; i < threads; ++i) {
    const int64_t b = i * chunk, e = std::min(n, b + chunk);
    if (b >= e) break;
    pool.emplace_back([&, i, b, e] {
      try {
        body(b, e);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace wtal::cpu
