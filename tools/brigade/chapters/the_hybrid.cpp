// Chapter "the hybrid": the first essay's closing advice, an async front end that keeps taking
// orders while a thread pool behind it does the CPU-heavy cooking.
//
// The shape, in brigade:
//   front end   a task that receives orders over a channel and spawns one task per order
//   each order  co_await offload_async(kitchen, cook, order): the cooking runs on the pool's
//               threads; the order's task resumes on the runtime and sends its receipt
//   the ping    a task that sleeps 1 ms again and again and records how late it wakes: the
//               runtime's responsiveness, measured while the kitchen is saturated
//
// The service runs twice on the same orders: first the wrong way, cooking on the runtime's own
// workers (each order's task calls cook() directly), then the hybrid way, through the pool. The
// ping's lateness tells the difference: with the workers cooking, a woken ping waits until a worker
// finishes an order; with the pool cooking, a worker is free to run it at once.
//
// Checks: every order gets exactly one receipt, each receipt's digest equals the one the main
// thread computes, the receipts channel closes (every order's task finished), and the ping ran
// at least four times as often in the hybrid service as in the wrong one (about 50 times here).
#include <algorithm>
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <thread>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

constexpr std::uint32_t order_count = 64;
constexpr std::uint64_t cooking_steps = 3'000'000;  // a few milliseconds of arithmetic per order
constexpr auto ping_period = 1ms;

struct order {
  std::uint32_t id = 0;
  std::uint64_t seed = 0;
};

struct receipt {
  std::uint32_t id = 0;
  std::uint64_t digest = 0;
};

/// The CPU-heavy step: a few million rounds of a 64-bit mix, no memory traffic.
std::uint64_t cook(order o) {
  std::uint64_t state = o.seed ^ 0x9e3779b97f4a7c15ULL;
  for (std::uint64_t step = 0; step < cooking_steps; ++step) {
    state ^= state >> 31;
    state *= 0xbf58476d1ce4e5b9ULL;
    state += step;
  }
  return state;
}

/// One order's task. With a kitchen, the cooking is offloaded; without, it runs right here, on
/// whichever runtime worker runs this task.
task<void> serve(order o, thread_pool* kitchen, sender<receipt> receipts) {
  std::uint64_t digest = 0;
  if (kitchen != nullptr)
    digest = co_await offload_async(*kitchen, cook, o);
  else
    digest = cook(o);
  co_await receipts.send_async(receipt{o.id, digest});
}

/// The front end: takes orders as they come and never cooks.
task<void> front_end(receiver<order> orders, thread_pool* kitchen, sender<receipt> receipts) {
  while (auto o = co_await orders.recv_async()) spawn(serve(*o, kitchen, receipts)).detach();
}

/// How late each 1 ms sleep woke, until the service is over.
task<std::vector<steady_clock::duration>> ping(const std::atomic<bool>& service_over) {
  std::vector<steady_clock::duration> lateness;
  while (!service_over.load(std::memory_order_acquire)) {
    const auto before = steady_clock::now();
    co_await sleep_for_async(ping_period);
    lateness.push_back(steady_clock::now() - before - ping_period);
  }
  co_return lateness;
}

struct service_figures {
  std::vector<receipt> receipts;
  std::vector<steady_clock::duration> lateness;  // sorted
  steady_clock::duration took{};
};

/// One service of every order: the chapter's thread plays the customers, sending the orders and
/// collecting the receipts.
service_figures run_service(runtime& rt, thread_pool* kitchen, const std::vector<order>& orders) {
  service_figures figures;
  std::atomic<bool> service_over{false};
  auto pinger = rt.spawn(ping(service_over));
  const auto start = steady_clock::now();
  {
    auto [orders_tx, orders_rx] = make_channel<order>(16);
    auto [receipts_tx, receipts_rx] = make_channel<receipt>(unbounded);
    rt.spawn(front_end(std::move(orders_rx), kitchen, std::move(receipts_tx))).detach();
    for (const order& o : orders) orders_tx.send(o);
    orders_tx = {};  // closes the orders: the front end returns once it has taken them all
    // Closes when the front end and every order's task have returned (each held a sender).
    for (receipt r : receipts_rx) figures.receipts.push_back(r);
  }
  figures.took = steady_clock::now() - start;
  service_over.store(true, std::memory_order_release);
  figures.lateness = pinger.join();
  std::sort(figures.lateness.begin(), figures.lateness.end());
  return figures;
}

steady_clock::duration percentile(const std::vector<steady_clock::duration>& sorted, double fraction) {
  if (sorted.empty()) return {};
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

std::string describe_lateness(const std::vector<steady_clock::duration>& sorted) {
  if (sorted.empty()) return "no ping woke during the service";
  return fmt::format("median {}, 99th percentile {}, worst {} ({} pings)", format_duration(percentile(sorted, 0.5)),
                     format_duration(percentile(sorted, 0.99)), format_duration(sorted.back()), sorted.size());
}

chapter_result run(tour_context& ctx) {
  std::vector<std::string> failures;
  auto expect = [&](bool ok, std::string what) {
    if (!ok) failures.push_back(std::move(what));
  };

  std::vector<order> orders;
  std::vector<std::uint64_t> expected;
  const auto reference_start = steady_clock::now();
  for (std::uint32_t id = 0; id < order_count; ++id) {
    orders.push_back(order{id, 0x5eed0000ULL + id * 7919ULL});
    expected.push_back(cook(orders.back()));
  }
  const auto one_order = (steady_clock::now() - reference_start) / order_count;

  runtime rt({.worker_threads = ctx.workers()});
  const std::size_t cooks = std::max(2U, std::thread::hardware_concurrency());
  thread_pool kitchen(thread_pool_options{.threads = cooks, .name = "cook"});
  ctx.fact("orders", fmt::format("{}, about {} of cooking each", order_count, format_duration(one_order)));
  ctx.fact("runtime", fmt::format("{} workers", rt.worker_count()));
  ctx.fact("kitchen", fmt::format("a thread_pool of {} cooks", cooks));

  auto check = [&](const service_figures& figures, const char* service) {
    std::vector<int> seen(order_count, 0);
    bool digests_right = figures.receipts.size() == order_count;
    for (const receipt& r : figures.receipts) {
      if (r.id >= order_count) {
        digests_right = false;
        continue;
      }
      ++seen[r.id];
      digests_right = digests_right && r.digest == expected[r.id];
    }
    expect(digests_right && std::ranges::all_of(seen, [](int n) { return n == 1; }),
           fmt::format("{}: one right receipt per order", service));
  };

  const service_figures on_workers = run_service(rt, nullptr, orders);
  check(on_workers, "cooking on the workers");
  const service_figures hybrid = run_service(rt, &kitchen, orders);
  check(hybrid, "the hybrid");

  ctx.gap();
  ctx.fact("on the workers", fmt::format("every order served in {}", format_duration(on_workers.took)));
  ctx.fact("  the ping, late", describe_lateness(on_workers.lateness));
  ctx.fact("with the kitchen", fmt::format("every order served in {}", format_duration(hybrid.took)));
  ctx.fact("  the ping, late", describe_lateness(hybrid.lateness));
  // How often the ping got to run is the robust measure: with the workers cooking it wakes only
  // between orders (a handful of times), with the kitchen about once a millisecond. Its median
  // lateness is not: the pings before the first order and after the last are prompt either way.
  expect(hybrid.lateness.size() >= 4 * std::max<std::size_t>(on_workers.lateness.size(), 1),
         fmt::format("the front end is more responsive with the kitchen behind it ({} pings against {})",
                     hybrid.lateness.size(), on_workers.lateness.size()));

  kitchen.shutdown();
  expect(kitchen.await_termination(std::chrono::seconds(10)), "the cooks went home after the service");

  ctx.gap();
  ctx.paragraph(
      "Cooking on the runtime's workers, a ping that woke waited behind the orders queued before "
      "it, so it woke rarely and late: a server's heartbeats and new connections would wait the "
      "same way. With the kitchen behind the front end, each order's task suspended at "
      "offload_async while a cook worked, so the workers stayed free for the front end and the "
      "ping, and each order's task resumed when its dish was ready. Both services took about as "
      "long, since the cores did the same cooking; only who waited changed. The ping's worst "
      "cases with the kitchen are the operating system's: the cooks and the workers share the "
      "cores, and a woken worker may wait for a cook's time slice to end.");

  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_hybrid_chapter() {
  static constexpr chapter c{
      .slug = "the-hybrid",
      .title = "the hybrid",
      .summary = "an async front end taking orders, a thread pool cooking them (offload_async)",
      .essay =
          "The first essay ends its tour of models with advice: often a hybrid is best, an async "
          "front end that keeps many connections open cheaply and a thread-pool back end for the "
          "CPU-heavy work, each playing to its strength. Here the front end is a coroutine taking "
          "orders over a channel, the back end a thread_pool, and offload_async the seam: the "
          "order's coroutine waits for its cook without holding a worker.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
