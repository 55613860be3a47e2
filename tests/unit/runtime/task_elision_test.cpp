// A task that awaits a local child task and then suspends once more must finish: clang-16 at -O2
// elided the child's frame into the parent's and compiled the parent's normal path after its last
// co_await as "free the frame" without the final awaiter, so a spawned task of this shape never
// completed (its join never returned) and its frame was freed twice at shutdown. brigade keeps
// clang from eliding task frames (task::destroy, runtime/task.hpp). Each case fails within two
// seconds rather than hanging when the final awaiter is skipped (checked: with the elision
// allowed, every case fails under clang-16 -O2).
#include <gtest/gtest.h>

#include <chrono>
#include <stop_token>
#include <thread>
#include <utility>

#include "brigade/brigade.hpp"

namespace {

using namespace std::chrono_literals;

struct delivery {  // internal linkage, as in the program that found it
  int id = 0;
  long value = 0;
};

brigade::task<long> doubled(long x) { co_return 2 * x; }

brigade::task<void> child_in_a_branch_then_send(int id, bool await_child, brigade::sender<delivery> out) {
  long value = id;
  if (await_child) {
    auto child = doubled(id);
    value = co_await std::move(child);
  }
  co_await out.send_async(delivery{id, value});
}

/// join(), ended by a stop request after `limit`: false when the task had not finished by then.
template <class T>
bool joins_within(brigade::join_handle<T>& handle, std::chrono::milliseconds limit) {
  std::stop_source give_up;
  std::jthread alarm([&](std::stop_token finished) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished.stop_requested() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    give_up.request_stop();
  });
  try {
    (void)handle.join(give_up.get_token());
    return true;
  } catch (const brigade::task_cancelled&) {
    return false;
  }
}

TEST(task_elision, a_task_that_awaits_a_local_child_then_sends_finishes) {
  brigade::runtime rt({.worker_threads = 1});
  auto [tx, rx] = brigade::make_channel<delivery>(brigade::unbounded);
  for (int id = 0; id < 4; ++id) {
    const bool await_child = id % 2 == 0;
    auto handle = rt.spawn(child_in_a_branch_then_send(id, await_child, tx));
    EXPECT_TRUE(joins_within(handle, 2s)) << "task " << id << " never ran its final awaiter";
    delivery got;
    ASSERT_EQ(rx.try_recv(got), brigade::channel_status::ok);
    EXPECT_EQ(got.value, await_child ? 2L * id : id);
  }
}

}  // namespace
