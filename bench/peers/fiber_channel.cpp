// fiber_channel.cpp: Boost.Fiber's peer of brigade's channel ping-pong (channel_workloads.hpp):
// two fibers on one thread over two boost::fibers::unbuffered_channel. (--threads is ignored:
// Boost.Fiber's channels between fibers of one thread are the figure the issue quotes.)
#include <boost/fiber/all.hpp>

#include "channel_workloads.hpp"

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "chan_pingpong") bench::usage_error(argv[0], "workload must be chan_pingpong");
  return bench::run_pingpong("fiber", o, [](long long n) {
    boost::fibers::unbuffered_channel<long long> ping, pong;
    boost::fibers::fiber echo([&] {
      long long value = 0;
      while (ping.pop(value) == boost::fibers::channel_op_status::success) pong.push(value + 1);
      pong.close();
    });
    long long counter = 0;
    for (long long i = 0; i < n; ++i) {
      ping.push(counter + 1);
      pong.pop(counter);
    }
    ping.close();
    echo.join();
    return counter;
  });
}
