// moodycamel_queue.cpp: the ceiling for brigade's bounded channel (channel_workloads.hpp's
// chan_mpmc): moodycamel::ConcurrentQueue (Debian libconcurrentqueue-dev), a lock-free queue
// without blocking semantics, between 2 producer and 2 consumer threads. Producers use explicit
// producer tokens and the queue is sized for 1024 elements up front (it may grow: it has no
// bound to block on); consumers spin on try_dequeue with a consumer token, yielding when empty.
#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "channel_workloads.hpp"

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "chan_mpmc") bench::usage_error(argv[0], "workload must be chan_mpmc");
  return bench::run_mpmc("moodycamel", o, [](long long n) {
    moodycamel::ConcurrentQueue<std::uint64_t> queue(bench::mpmc_capacity);
    std::atomic<long long> received{0};
    std::atomic<std::uint64_t> total{0};
    auto produce = [&] {
      moodycamel::ProducerToken token(queue);
      for (long long i = 0; i < n / 2; ++i) queue.enqueue(token, static_cast<std::uint64_t>(i));
    };
    auto consume = [&] {
      moodycamel::ConsumerToken token(queue);
      std::uint64_t sum = 0, value = 0;
      while (received.load(std::memory_order_relaxed) < n) {
        if (queue.try_dequeue(token, value)) {
          sum += value;
          received.fetch_add(1, std::memory_order_relaxed);
        } else {
          std::this_thread::yield();
        }
      }
      total.fetch_add(sum);
    };
    std::thread p1(produce), p2(produce), c1(consume), c2(consume);
    p1.join();
    p2.join();
    c1.join();
    c2.join();
    return total.load();
  });
}
