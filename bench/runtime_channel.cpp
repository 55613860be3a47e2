// runtime_channel.cpp: brigade's channels (bench/channel_workloads.hpp), on --threads workers.
//   chan_pingpong         two tasks over two unbuffered channels
//   chan_pingpong_thread  a task and a plain thread (main) over two unbuffered channels
//   chan_mpmc             2 producer tasks, 2 consumer tasks, capacity 1024
#include <brigade/brigade.hpp>

#include <cstdint>

#include "channel_workloads.hpp"

namespace {

brigade::task<void> echo(brigade::receiver<long long> in, brigade::sender<long long> out) {
  while (auto value = co_await in.recv_async()) co_await out.send_async(*value + 1);
}

brigade::task<long long> serve(brigade::sender<long long> out, brigade::receiver<long long> in, long long n) {
  long long counter = 0;
  for (long long i = 0; i < n; ++i) {
    co_await out.send_async(counter + 1);
    counter = *co_await in.recv_async();
  }
  co_return counter;
}

brigade::task<void> produce(brigade::sender<std::uint64_t> tx, long long count) {
  for (long long i = 0; i < count; ++i) co_await tx.send_async(static_cast<std::uint64_t>(i));
}

brigade::task<std::uint64_t> consume(brigade::receiver<std::uint64_t> rx) {
  std::uint64_t sum = 0;
  while (auto value = co_await rx.recv_async()) sum += *value;
  co_return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  brigade::runtime rt({.worker_threads = o.threads});
  if (o.workload == "chan_pingpong") {
    return bench::run_pingpong("brigade", o, [&](long long n) {
      auto [ping_tx, ping_rx] = brigade::make_channel<long long>(0);
      auto [pong_tx, pong_rx] = brigade::make_channel<long long>(0);
      auto echoing = rt.spawn(echo(std::move(ping_rx), std::move(pong_tx)));
      const long long counter = rt.block_on(serve(std::move(ping_tx), std::move(pong_rx), n));
      echoing.join();
      return counter;
    });
  }
  if (o.workload == "chan_pingpong_thread") {
    return bench::run_pingpong("brigade", o, [&](long long n) {
      auto [ping_tx, ping_rx] = brigade::make_channel<long long>(0);
      auto [pong_tx, pong_rx] = brigade::make_channel<long long>(0);
      auto echoing = rt.spawn(echo(std::move(ping_rx), std::move(pong_tx)));
      long long counter = 0;
      for (long long i = 0; i < n; ++i) {
        ping_tx.send(counter + 1);
        counter = *pong_rx.recv();
      }
      ping_tx.close();
      echoing.join();
      return counter;
    });
  }
  if (o.workload == "chan_mpmc") {
    return bench::run_mpmc("brigade", o, [&](long long n) {
      auto [tx, rx] = brigade::make_channel<std::uint64_t>(bench::mpmc_capacity);
      auto first = rt.spawn(produce(tx, n / 2));
      auto second = rt.spawn(produce(tx, n / 2));
      tx = brigade::sender<std::uint64_t>();  // the producers hold the last senders
      auto c1 = rt.spawn(consume(rx));
      auto c2 = rt.spawn(consume(rx));
      first.join();
      second.join();
      return c1.join() + c2.join();
    });
  }
  bench::usage_error(argv[0], "workload must be chan_pingpong, chan_pingpong_thread or chan_mpmc");
}
