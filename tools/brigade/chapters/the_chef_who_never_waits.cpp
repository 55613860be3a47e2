// Chapter 6, "the chef who never waits": the first essay's async kitchen with real I/O. One chef
// stays busy while orders are in flight; waiting costs nothing.
//
// Two scenes, each checked:
// 1. The essay's monitor_services (asyncio): check a list of service endpoints concurrently,
//    each check with a timeout, and gather the healthy and the failed with their errors. The
//    services are listeners on the loopback interface, served by tasks of the same runtime: one
//    answers at once, one after 40 ms, one too slowly (it answers after 2 s; the check gives up
//    at 300 ms), one answers 503, one hangs up without answering, and one address nobody listens
//    on (connection refused). Every check is started with spawn (asyncio.create_task), 10 ms
//    apart as in the essay, and their outcomes are collected by joining each handle. The checks
//    overlap: the whole round takes about as long as the slowest check's timeout, not the sum of
//    all checks; and the process's CPU time over the round shows what the waiting cost.
// 2. The essay's fetchUser with retries: a users service that fails twice (it answers HTTP 500)
//    before it answers, fetched with brigade::retry (3 attempts, linear backoff: the essay's
//    `delay = 1000 * attempt`, scaled down to 100 ms * attempt so that the tour stays quick),
//    printing each failed attempt from the policy's on_retry hook. Then a user whose service
//    never recovers: after the third attempt the last error is thrown.
//
// The protocol is one line each way ("GET /health" or "GET /users/7", then "<code> <text>"), so
// that the chapter needs no HTTP library; what it shows is the waiting, not the parsing.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <fmt/format.h>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;
using milliseconds_as_double = std::chrono::duration<double, std::milli>;
using brigade::net::endpoint;
using brigade::net::tcp_listener;
using brigade::net::tcp_stream;

constexpr auto check_timeout = 300ms;
constexpr auto stagger = 10ms;  // the essay's asyncio.sleep(0.01) between starts

// --- One line each way -------------------------------------------------------------------------

std::span<const std::byte> bytes_of(const std::string& text) { return std::as_bytes(std::span(text)); }

/// Reads up to the first newline (not included); what came before the end of the stream if there
/// is none. Throws std::system_error when the peer hangs up before sending anything.
brigade::task<std::string> read_line(const tcp_stream& stream) {
  std::string line;
  std::array<std::byte, 256> buffer;
  while (true) {
    const std::size_t n = co_await stream.read_some_async(buffer);
    if (n == 0) break;
    line.append(reinterpret_cast<const char*>(buffer.data()), n);
    if (const auto end = line.find('\n'); end != std::string::npos) {
      line.resize(end);
      co_return line;
    }
  }
  if (line.empty())
    throw std::system_error(std::make_error_code(std::errc::connection_aborted),
                            "the service hung up without answering");
  co_return line;
}

// --- The services ------------------------------------------------------------------------------

enum class behaviour { answers, answers_late, too_slow, unavailable, hangs_up, fails_twice, always_fails };

struct service {
  std::string_view name;
  behaviour how;
  endpoint where{};
  std::atomic<int> requests{0};
};

brigade::task<void> serve_one(tcp_stream stream, service& s) {
  const std::string request = co_await read_line(stream);
  const int number = ++s.requests;
  std::string reply;
  switch (s.how) {
    case behaviour::answers: reply = "200 OK"; break;
    case behaviour::answers_late:
      co_await brigade::sleep_for_async(40ms);
      reply = "200 OK";
      break;
    case behaviour::too_slow:
      co_await brigade::sleep_for_async(2s);
      reply = "200 OK";
      break;
    case behaviour::unavailable: reply = "503 Service Unavailable"; break;
    case behaviour::hangs_up: co_return;  // the stream closes as the task ends
    case behaviour::fails_twice:
      reply = number <= 2 ? "500 Internal Server Error" : R"(200 {"id": 7, "name": "Ada Lovelace"})";
      break;
    case behaviour::always_fails: reply = "500 Internal Server Error"; break;
  }
  (void)request;
  co_await stream.write_all_async(bytes_of(reply + "\n"));
}

brigade::task<void> accept_loop(const tcp_listener& listener, service& s) {
  while (true) {
    auto [stream, peer] = co_await listener.accept_async();
    brigade::spawn(serve_one(std::move(stream), s)).detach();
  }
}

// --- Scene 1: monitor_services -------------------------------------------------------------------

struct health {
  int status = 0;
  bool ok = false;
  double milliseconds = 0;
};

/// The essay's check_single_service: one request, with a timeout; errors say what happened.
brigade::task<health> check_single_service(endpoint where, std::string name) {
  const auto start = steady_clock::now();
  auto check = [](endpoint to) -> brigade::task<int> {
    auto stream = co_await tcp_stream::connect_async(to);
    co_await stream.write_all_async(bytes_of("GET /health\n"));
    const std::string line = co_await read_line(stream);
    co_return std::stoi(line.substr(0, line.find(' ')));
  };
  try {
    const int status = co_await brigade::timeout(check(where), check_timeout);
    co_return health{status, status == 200, milliseconds_as_double(steady_clock::now() - start).count()};
  } catch (const brigade::timeout_error&) {
    throw std::runtime_error(fmt::format("request to {} timed out after {} ms", name, check_timeout.count()));
  } catch (const std::system_error& error) {
    throw std::runtime_error(fmt::format("failed to connect to {}: {}", name, error.what()));
  }
}

double cpu_milliseconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto to_ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return to_ms(usage.ru_utime) + to_ms(usage.ru_stime);
}

struct round_result {
  std::vector<std::pair<std::string, health>> healthy;
  std::vector<std::pair<std::string, std::string>> failed;
  double wall_ms = 0;
  double cpu_ms = 0;
};

/// The essay's monitor_services: create_task for each endpoint, 10 ms apart, then gather with
/// return_exceptions=True.
brigade::task<round_result> monitor_services(std::vector<std::pair<std::string, endpoint>> endpoints) {
  round_result result;
  const auto start = steady_clock::now();
  const double cpu_start = cpu_milliseconds();
  std::vector<brigade::join_handle<health>> checks;
  for (const auto& [name, where] : endpoints) {
    checks.push_back(brigade::spawn(check_single_service(where, name)));
    co_await brigade::sleep_for_async(stagger);
  }
  for (std::size_t i = 0; i < checks.size(); ++i) {
    std::optional<health> outcome;
    std::string error;
    try {
      outcome = co_await checks[i];
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (outcome)
      result.healthy.emplace_back(endpoints[i].first, *outcome);
    else
      result.failed.emplace_back(endpoints[i].first, error);
  }
  result.wall_ms = milliseconds_as_double(steady_clock::now() - start).count();
  result.cpu_ms = cpu_milliseconds() - cpu_start;
  co_return result;
}

// --- Scene 2: fetchUser with retries ------------------------------------------------------------

struct attempt_log {
  std::vector<std::string> lines;
  std::vector<steady_clock::time_point> failures;
};

/// The essay's fetchUser(userId, maxAttempts = 3), on brigade::retry.
brigade::task<std::string> fetch_user(endpoint where, int user_id, attempt_log& log) {
  const brigade::retry_policy policy{
      .max_attempts = 3,
      .backoff = brigade::retry_backoff::linear,  // the essay's delay = 1000 * attempt, scaled by 1/10
      .initial_delay = 100ms,
      .on_retry =
          [&log, user_id](std::size_t attempt, const std::exception_ptr& error, std::chrono::nanoseconds delay) {
            std::string why;
            try {
              std::rethrow_exception(error);
            } catch (const std::exception& e) {
              why = e.what();
            }
            log.failures.push_back(steady_clock::now());
            log.lines.push_back(fmt::format("attempt {} failed for user {}: {} (next in {} ms)", attempt, user_id, why,
                                            std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()));
          },
  };
  auto attempt = [where, user_id]() -> brigade::task<std::string> {
    auto stream = co_await tcp_stream::connect_async(where, 1s);
    co_await stream.write_all_async(bytes_of(fmt::format("GET /users/{}\n", user_id)));
    const std::string line = co_await read_line(stream);
    if (!line.starts_with("200 ")) throw std::runtime_error("HTTP " + line.substr(0, line.find(' ')));
    co_return line.substr(4);
  };
  co_return co_await brigade::retry(attempt, policy);
}

// --- The chapter --------------------------------------------------------------------------------

chapter_result run(tour_context& ctx) {
  brigade::runtime rt({.worker_threads = ctx.workers()});
  std::vector<std::string> failures;
  auto expect = [&](bool ok, std::string what) {
    if (!ok) failures.push_back(std::move(what));
  };

  // The kitchen's suppliers: listeners served by tasks of this runtime.
  std::array<service, 7> services{{{"inventory", behaviour::answers},
                                   {"payments", behaviour::answers_late},
                                   {"search", behaviour::too_slow},
                                   {"reviews", behaviour::unavailable},
                                   {"shipping", behaviour::hangs_up},
                                   {"users", behaviour::fails_twice},
                                   {"archive", behaviour::always_fails}}};
  std::vector<tcp_listener> listeners;
  std::vector<brigade::join_handle<void>> servers;
  for (service& s : services) {
    listeners.push_back(tcp_listener::bind(rt, endpoint::loopback_v4(0)));
    s.where = listeners.back().local_endpoint();
  }
  for (std::size_t i = 0; i < services.size(); ++i) servers.push_back(rt.spawn(accept_loop(listeners[i], services[i])));
  endpoint nobody;
  {
    auto closed = tcp_listener::bind(rt, endpoint::loopback_v4(0));
    nobody = closed.local_endpoint();
  }  // nobody listens there any more: connections are refused

  // Scene 1.
  std::vector<std::pair<std::string, endpoint>> endpoints;
  for (std::size_t i = 0; i < 5; ++i) endpoints.emplace_back(std::string(services[i].name), services[i].where);
  endpoints.emplace_back("recommendations", nobody);
  const round_result round = rt.block_on(monitor_services(endpoints));

  ctx.paragraph(fmt::format(
      "monitor_services: {} endpoints checked concurrently on {} worker thread(s) ({} backend), each "
      "started 10 ms after the previous one and given {} ms to answer.",
      endpoints.size(), rt.worker_count(), rt.io_backend_name(), check_timeout.count()));
  for (const auto& [name, h] : round.healthy)
    ctx.fact(name, fmt::format("healthy: status {} ({}) in {:.1f} ms", h.status, h.ok ? "ok" : "not ok", h.milliseconds));
  for (const auto& [name, why] : round.failed) ctx.fact(name, "failed: " + why);
  ctx.fact("round took", fmt::format("{:.0f} ms of wall time, {:.1f} ms of CPU time", round.wall_ms, round.cpu_ms));

  auto find_healthy = [&](std::string_view name) -> const health* {
    for (const auto& [n, h] : round.healthy)
      if (n == name) return &h;
    return nullptr;
  };
  auto failed_with = [&](std::string_view name, std::string_view words) {
    for (const auto& [n, why] : round.failed)
      if (n == name) return why.find(words) != std::string::npos;
    return false;
  };
  const health* inventory = find_healthy("inventory");
  const health* payments = find_healthy("payments");
  const health* reviews = find_healthy("reviews");
  expect(inventory != nullptr && inventory->ok, "inventory answers 200");
  expect(payments != nullptr && payments->ok && payments->milliseconds >= 40, "payments answers 200 after 40 ms");
  expect(reviews != nullptr && reviews->status == 503 && !reviews->ok, "reviews answers 503 (healthy list, not ok)");
  expect(failed_with("search", "timed out"), "search times out");
  expect(failed_with("shipping", "hung up"), "shipping hangs up without answering");
  expect(failed_with("recommendations", "refused"), "recommendations refuses the connection");
  expect(round.healthy.size() == 3 && round.failed.size() == 3, "three healthy, three failed");
  // Sequential checks would take the sum: at least the timeout plus the 40 ms of payments.
  expect(round.wall_ms < 5 * stagger.count() + check_timeout.count() + 1000,
         "the checks overlapped (the round took about the slowest check's timeout)");

  // Scene 2.
  ctx.gap();
  attempt_log log;
  std::string user;
  try {
    user = rt.block_on(fetch_user(services[5].where, 7, log));
  } catch (const std::exception& e) {
    failures.push_back(std::string("fetch_user(7) failed: ") + e.what());
  }
  ctx.paragraph("fetchUser(7, maxAttempts = 3) against a users service that fails twice, linear backoff of 100 ms * attempt:");
  for (const std::string& line : log.lines) ctx.fact("on_retry", line);
  ctx.fact("user 7", user);
  expect(services[5].requests.load() == 3, "the users service was asked three times");
  expect(log.lines.size() == 2, "on_retry saw two failed attempts");
  expect(user.find("Ada Lovelace") != std::string::npos, "the third attempt returned the user");

  attempt_log given_up;
  std::string last_error;
  try {
    (void)rt.block_on(fetch_user(services[6].where, 8, given_up));
  } catch (const std::exception& e) {
    last_error = e.what();
  }
  for (const std::string& line : given_up.lines) ctx.fact("on_retry", line);
  ctx.fact("user 8", fmt::format("gave up after 3 attempts: {}", last_error));
  expect(services[6].requests.load() == 3 && given_up.lines.size() == 2, "user 8: three attempts, two retries");
  expect(last_error == "HTTP 500", "user 8: the last error is thrown");
  if (given_up.failures.size() == 2) {
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(given_up.failures[1] - given_up.failures[0]);
    expect(gap >= 100ms, "the second pause came after the first (100 ms)");
  }

  for (auto& server : servers) server.abort();
  ctx.gap();
  ctx.paragraph(
      "While the checks waited (for a connection, an answer, a timer), no thread waited with them: "
      "each task was parked on its socket or its timer, and the worker went on with the next. "
      "An idle worker sleeps inside the reactor (epoll or io_uring) with the nearest timer as its "
      "timeout, so a ready socket or an expired timer wakes exactly the task that waits for it. "
      "A timeout is a stop request like any other: the check that timed out was withdrawn from "
      "its read and took nothing with it. retry() pauses with the same timers, so an abort or an "
      "enclosing timeout ends the retries even in the middle of a pause.");

  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_chef_who_never_waits_chapter() {
  static constexpr chapter c{
      .slug = "the-chef-who-never-waits",
      .title = "the chef who never waits",
      .summary = "monitor_services with timeouts over real sockets, and fetchUser with retries",
      .essay =
          "The first essay's single chef \"never stood still waiting for water to boil\": put the "
          "pot on, set a timer, chop vegetables, come back when it beeps. That is the async model, "
          "made for I/O, where a server mostly waits. The essay's Python monitor_services checks a "
          "list of endpoints concurrently, each with a 5 s timeout, and gathers the healthy and "
          "the failed; its JavaScript fetchUser retries a failed request three times, waiting "
          "1000 ms * attempt in between. Here both run on brigade's reactor, against local "
          "services that answer, answer slowly, refuse, hang up, and fail twice before they "
          "answer.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
