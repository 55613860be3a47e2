// brigade/time/retry.hpp: running an operation again, after a pause, until it succeeds
// (Polly's retry strategy, Python's tenacity, Rust's backoff crate, for brigade's tasks).
//
//   brigade::task<user> fetch_user(int id) {            // the essay's fetchUser, in brigade
//     const brigade::retry_policy policy{
//         .max_attempts = 3,
//         .backoff = brigade::retry_backoff::linear,    // 1 s after attempt 1, 2 s after attempt 2
//         .initial_delay = 1s,
//         .on_retry = [id](std::size_t attempt, const std::exception_ptr&, std::chrono::nanoseconds) {
//           std::clog << "attempt " << attempt << " failed for user " << id << '\n';
//         }};
//     co_return co_await brigade::retry([&] { return http_get_user(id); }, policy);
//   }
//
// Types: retry_policy (an aggregate: name only the fields you change), retry_backoff,
// retry_jitter. Functions: retry(fn, policy), retry_on<Errors...>() (a retry_if predicate).
//
// What retry does: calls fn() (fn returns a task<T>, or any awaitable, which is awaited, or a
// plain T) and returns what the first successful attempt produced. After attempt n fails with an
// error that may be retried and attempts remain, it calls on_retry(n, error, delay), sleeps
// `delay` (sleep_for_async: the worker runs other tasks meanwhile) and calls fn() again. fn is
// called once per attempt, never twice concurrently, always from the retrying task.
//
// The delay after failed attempt n (n = 1, 2, ...), before jitter (retry_policy::delay_after):
//   constant     initial_delay
//   linear       initial_delay * n                        (the essay: 1000 ms * attempt)
//   exponential  initial_delay * multiplier^(n - 1)
// then capped at max_delay. Jitter spreads the retries of many callers that failed together:
//   none          the delay as computed;
//   full          uniform in [0, delay] (AWS's "full jitter");
//   proportional  uniform in [delay * (1 - jitter_fraction), delay * (1 + jitter_fraction)].
// No delay, jitter included, exceeds max_delay. The random numbers come from an engine private
// to the call (no shared state, no lock), seeded from std::random_device, or from `seed` when
// one is given (tests: the same seed gives the same delays).
//
// Which errors are retried: never task_cancelled (a stop request is an order, not a failure),
// whatever retry_if says. Otherwise retry_if(error) decides, given the std::exception_ptr of the
// failure (a pointer, rather than a std::exception&, so that a predicate can also judge errors
// that do not derive from std::exception); retry_on<E...>() builds one that retries only those
// types. Without retry_if: every std::exception except usage_error (a bug does not go away by
// trying again) is retried; other thrown types are not.
//
// Guarantees:
//   - at most max_attempts calls of fn; on_retry is called exactly once per failed attempt that
//     is followed by another, before its pause;
//   - when the attempts run out, or an error may not be retried, the LAST error is rethrown
//     unchanged (the same exception object, by std::rethrow_exception). To see every error, keep
//     what on_retry receives: it gets each failure but the last, which is the one thrown;
//   - an exception thrown by retry_if or on_retry ends the retry with that exception;
//   - an invalid policy (max_attempts 0, a negative delay, multiplier below 1, jitter_fraction
//     outside [0, 1]) throws usage_error from the retry(...) call itself.
//
// Cancellation: the pause is a sleep_for_async, a cancellation point, and every attempt runs in
// the awaiting task's scope. A stop request (join_handle::abort(), an enclosing
// brigade::timeout, a failing when_all sibling) during an attempt or during a pause ends the
// retry at once with task_cancelled (an enclosing timeout turns it into its timeout_error), and
// no further attempt starts: a stop seen after an attempt failed for another reason also ends
// it with task_cancelled. An attempt that completes in spite of a stop returns its value.
// A timeout per attempt is a brigade::timeout inside fn, whose timeout_error is retried like any
// std::exception. fn must then be a coroutine, so that the attempt's task outlives the timeout
// that awaits it (timeout.hpp, "Lifetime"; `return brigade::timeout(fetch(url), 2s);` from a plain
// lambda would leave the timeout a destroyed task):
//   co_await brigade::retry([&]() -> brigade::task<page> { co_return co_await brigade::timeout(fetch(url), 2s); },
//                           policy);
//
// No thread form: the plain name already belongs to this task form, as for timeout() and
// when_all(), the combinators that compose awaitables; a `retry_blocking` would fit no name in
// the one naming rule (docs/ARCHITECTURE.md). A plain thread retries through its runtime:
// rt.block_on(brigade::retry(fn, policy)).
//
// Lifetime: fn is moved (or copied) into the retry and the policy copied, at the retry(...) call;
// what fn captures by reference must outlive the co_await. g++ 12 destroys temporaries inside a
// co_await expression twice (docs/ARCHITECTURE.md, "Compiler notes"): with it, name the policy
// (and a lambda that captures by value) before the co_await, as above.
// Thread safety: each call is independent; on_retry and retry_if run on the retrying task.
// Cost: one task frame per call, and an attempt's own; random numbers only when jitter is on.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <type_traits>
#include <utility>

#include "brigade/detail/awaitable_traits.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/this_task.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade {

/// How the pause grows from one failed attempt to the next (see the top of this header).
enum class retry_backoff { constant, linear, exponential };

/// How the pause is randomised (see the top of this header).
enum class retry_jitter { none, full, proportional };

/// What retry() does between attempts. An aggregate: write only the fields that differ from the
/// defaults, in this order, with designated initialisers.
struct retry_policy {
  /// Attempts in all, the first included (1: no retry). 0 is a usage_error.
  std::size_t max_attempts = 3;
  /// Exponential by default: 100 ms, 200 ms, 400 ms, ... up to max_delay.
  retry_backoff backoff = retry_backoff::exponential;
  std::chrono::nanoseconds initial_delay = std::chrono::milliseconds(100);
  /// The growth factor of the exponential backoff (>= 1; the other kinds ignore it).
  double multiplier = 2.0;
  /// The longest pause, jitter included.
  std::chrono::nanoseconds max_delay = std::chrono::seconds(10);
  retry_jitter jitter = retry_jitter::none;
  /// For retry_jitter::proportional: the pause varies by up to this fraction each way, [0, 1].
  double jitter_fraction = 0.1;
  /// The jitter's seed; none: one from std::random_device per call.
  std::optional<std::uint64_t> seed{};
  /// Whether a failure may be retried (never asked about task_cancelled, which is not). Empty:
  /// every std::exception but usage_error.
  std::function<bool(const std::exception_ptr& error)> retry_if{};
  /// Called before each pause: the failed attempt's number (from 1), its error, the pause.
  std::function<void(std::size_t attempt, const std::exception_ptr& error, std::chrono::nanoseconds delay)> on_retry{};

  /// The pause after failed attempt `attempt` (from 1) before jitter, capped at max_delay.
  [[nodiscard]] std::chrono::nanoseconds delay_after(std::size_t attempt) const noexcept {
    if (attempt == 0) attempt = 1;
    if (initial_delay <= initial_delay.zero()) return std::chrono::nanoseconds::zero();
    double nanoseconds = static_cast<double>(initial_delay.count());
    switch (backoff) {
      case retry_backoff::constant:
        break;
      case retry_backoff::linear:
        nanoseconds *= static_cast<double>(attempt);
        break;
      case retry_backoff::exponential:
        nanoseconds *= std::pow(multiplier, static_cast<double>(attempt - 1));
        break;
    }
    // Compared in double: a product past the range of nanoseconds (or inf) is the cap.
    if (!(nanoseconds < static_cast<double>(max_delay.count()))) return std::max(max_delay, max_delay.zero());
    return std::chrono::nanoseconds(std::llround(nanoseconds));
  }
};

namespace detail {

/// Throws usage_error for a policy retry() cannot follow.
inline void check_retry_policy(const retry_policy& policy) {
  if (policy.max_attempts == 0) throw usage_error("brigade: retry() needs max_attempts >= 1");
  if (policy.initial_delay < policy.initial_delay.zero() || policy.max_delay < policy.max_delay.zero())
    throw usage_error("brigade: retry() needs initial_delay >= 0 and max_delay >= 0");
  if (!(policy.multiplier >= 1.0) || !std::isfinite(policy.multiplier))
    throw usage_error("brigade: retry() needs a finite multiplier >= 1");
  if (!(policy.jitter_fraction >= 0.0 && policy.jitter_fraction <= 1.0))
    throw usage_error("brigade: retry() needs jitter_fraction in [0, 1]");
}

/// The default retry_if: every std::exception but usage_error (task_cancelled never gets here).
inline bool retryable_by_default(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const usage_error&) {
    return false;
  } catch (const std::exception&) {
    return true;
  } catch (...) {
    return false;
  }
}

template <class First, class... Rest>
bool holds_one_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const First&) {
    return true;
  } catch (...) {
  }
  if constexpr (sizeof...(Rest) == 0) {
    return false;
  } else {
    return holds_one_of<Rest...>(error);
  }
}

/// The jitter's random numbers: SplitMix64 (one word of state, so a retry's frame stays small;
/// its output is specified here, so a seed gives the same delays under every standard library).
class jitter_source {
 public:
  explicit jitter_source(std::uint64_t seed) noexcept : state_(seed) {}
  /// Uniform in [0, 1).
  double next_unit() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t mixed = state_;
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    mixed ^= mixed >> 31;
    return static_cast<double>(mixed >> 11) * 0x1.0p-53;
  }

 private:
  std::uint64_t state_;
};

inline std::uint64_t jitter_seed(const retry_policy& policy) {
  if (policy.seed) return *policy.seed;
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ static_cast<std::uint64_t>(device());
}

/// The pause after failed attempt `attempt`, jitter applied.
inline std::chrono::nanoseconds retry_delay(const retry_policy& policy, std::size_t attempt,
                                            std::optional<jitter_source>& random) {
  const std::chrono::nanoseconds nominal = policy.delay_after(attempt);
  if (policy.jitter == retry_jitter::none || nominal <= nominal.zero()) return nominal;
  if (!random) random.emplace(jitter_seed(policy));
  const double unit = random->next_unit();
  const double base = static_cast<double>(nominal.count());
  double jittered = policy.jitter == retry_jitter::full
                        ? base * unit
                        : base * (1.0 + policy.jitter_fraction * (2.0 * unit - 1.0));
  jittered = std::clamp(jittered, 0.0, static_cast<double>(policy.max_delay.count()));
  return std::chrono::nanoseconds(std::llround(jittered));
}

/// Whether fn's result is awaited (a task, or anything co_await accepts) or returned as is.
template <class Result>
concept awaitable_result = requires { awaiter_of(std::declval<Result>()).await_ready(); };

template <class Function, class Result = std::invoke_result_t<Function&>>
struct retry_result {
  using type = Result;
};
template <class Function, class Result>
  requires awaitable_result<Result>
struct retry_result<Function, Result> {
  using type = await_result_t<Result>;
};

template <class Function, class T>
task<T> retry_loop(Function fn, retry_policy policy) {
  std::optional<jitter_source> random;  // made at the first jittered pause
  for (std::size_t attempt = 1;; ++attempt) {
    std::exception_ptr failure;
    try {
      if constexpr (awaitable_result<std::invoke_result_t<Function&>>) {
        // Named before the co_await (g++ 12 destroys temporaries inside a co_await twice).
        auto operation = std::invoke(fn);
        if constexpr (std::is_void_v<T>) {
          co_await std::move(operation);
          co_return;
        } else {
          co_return co_await std::move(operation);
        }
      } else if constexpr (std::is_void_v<T>) {
        std::invoke(fn);
        co_return;
      } else {
        co_return std::invoke(fn);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (is_cancellation(failure)) std::rethrow_exception(failure);
    co_await this_task::throw_if_cancelled();  // stopped while the attempt failed otherwise
    if (attempt >= policy.max_attempts) std::rethrow_exception(failure);
    const bool retryable = policy.retry_if ? policy.retry_if(failure) : retryable_by_default(failure);
    if (!retryable) std::rethrow_exception(failure);
    const std::chrono::nanoseconds delay = retry_delay(policy, attempt, random);
    if (policy.on_retry) policy.on_retry(attempt, failure, delay);
    co_await sleep_for_async(delay);           // a cancellation point
    co_await this_task::throw_if_cancelled();  // a pause of zero does not suspend, so look here
  }
}

}  // namespace detail

/// The type `co_await retry(fn, policy)` yields: what fn's task (or awaitable) yields, or what fn
/// returns.
template <class Function>
using retry_result_t = typename detail::retry_result<std::decay_t<Function>>::type;

/// co_await retry(fn, policy): fn's result, from the first attempt that succeeds; the last error
/// when none does (see the top of this header). Throws usage_error at once for an invalid policy.
template <class Function>
  requires std::invocable<std::decay_t<Function>&>
[[nodiscard("co_await the retry")]] task<retry_result_t<Function>> retry(Function&& fn, const retry_policy& policy = {}) {
  // The policy by reference: a by-value parameter would be one more object in the caller's
  // co_await expression for g++ 12 to destroy twice. The loop's frame keeps its own copy.
  detail::check_retry_policy(policy);
  return detail::retry_loop<std::decay_t<Function>, retry_result_t<Function>>(std::forward<Function>(fn), policy);
}

/// A retry_if predicate that retries only errors of the given types (or derived from them):
///   .retry_if = brigade::retry_on<std::system_error, brigade::timeout_error>()
/// task_cancelled is still never retried, though it derives from std::runtime_error.
template <class... Errors>
  requires(sizeof...(Errors) > 0)
[[nodiscard]] std::function<bool(const std::exception_ptr&)> retry_on() {
  return [](const std::exception_ptr& error) { return detail::holds_one_of<Errors...>(error); };
}

}  // namespace brigade
