// brigade::runtime: the public face of the scheduler (runtime.hpp).
#include "brigade/runtime/runtime.hpp"

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "scheduler.hpp"

namespace brigade {

namespace {
runtime_options with_defaults(runtime_options options) {
  if (options.worker_threads == 0) {
    options.worker_threads = std::thread::hardware_concurrency();
    if (options.worker_threads == 0) options.worker_threads = 1;
  }
  if (options.max_compensating_workers == 0) options.max_compensating_workers = options.worker_threads;
  if (options.worker_threads + options.max_compensating_workers > 0xFFFE)
    throw usage_error(
        "brigade: runtime_options::worker_threads plus max_compensating_workers must be at most 65534");
  return options;
}
}  // namespace

runtime::runtime(runtime_options options)
    : scheduler_(std::make_unique<detail::scheduler>(*this, with_defaults(std::move(options)))),
      serial_(scheduler_->serial()) {}

runtime::~runtime() {
  if (detail::current_worker() != nullptr &&
      detail::current_worker()->owner == scheduler_.get()) {
    std::fputs("brigade: a runtime was destroyed on one of its own worker threads; this would "
               "deadlock, so the program stops\n", stderr);
    std::abort();
  }
  scheduler_->shutdown(std::chrono::steady_clock::time_point::max());
}

std::size_t runtime::worker_count() const noexcept { return scheduler_->worker_count(); }

detail::io_source& detail::register_io_source(runtime& rt, int fd) {
  return rt.scheduler_->io_reactor().register_source(fd);
}

detail::timer_queue& detail::timers_of(runtime& rt) noexcept { return rt.scheduler_->io_reactor().timers(); }

const char* runtime::io_backend_name() const noexcept { return scheduler_->io_reactor().backend_name(); }

void runtime::shutdown() { scheduler_->shutdown(std::chrono::steady_clock::time_point::max()); }

bool runtime::shutdown_until(std::chrono::steady_clock::time_point deadline) { return scheduler_->shutdown(deadline); }

runtime_stats runtime::stats() const { return scheduler_->stats(); }

runtime* runtime::current() noexcept {
  detail::worker_hot* worker = detail::current_worker();
  return worker != nullptr ? &worker->owner->owner() : nullptr;
}

}  // namespace brigade
