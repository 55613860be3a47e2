// Chapter 5, "the impatient customer": the first essay's Promise.all and asyncio.gather, and what
// neither of them says: what becomes of the work nobody waits for any more. Here a stop request
// reaches a task that is parked in a wait (a channel's recv(), a mutex's lock_async()) and ends
// that wait at once with task_cancelled; before, a stop was seen only at yield_now and explicit
// checks, which a parked task never reaches.
//
// Three scenes, each checked:
// 1. Promise.race (brigade::when_any): a customer orders from two kitchens and takes the first
//    dish. Each kitchen waits for its ingredients with `co_await counter.recv_async()`; a supplier
//    delivers to one of them, which cooks and wins. The other is parked on a channel nobody sends
//    on, and when_any, which returns only once every child has finished (nothing outlives the
//    call), would wait for it forever if the stop did not reach its recv(). It is run many times,
//    the supplied kitchen alternating, and the time from the win to the loser's wake is measured.
// 2. asyncio.TaskGroup (brigade::with_task_group): a batch of eight jobs. Three wait for the
//    pantry, a brigade::mutex that the main thread holds; three wait for deliveries on a channel
//    nobody sends on; one sets the tables and ends; one lights the fryer, which catches fire (it
//    throws). The first error stops the group: the six parked jobs are woken with task_cancelled,
//    and with_task_group rethrows the fire once every job has ended.
// 3. asyncio.gather(..., return_exceptions=True), as the essay writes it (brigade::gather): the
//    same eight jobs. A failure stops nobody: the six wait on until the main thread unlocks the
//    pantry and sends the deliveries, and gather yields seven values and one error.
//
// Sequencing, without sleeps: the supplier delivers only once both kitchens have arrived at their
// counters (a latch), and the fryer catches fire only once every other job has arrived at its wait
// (another latch). Without the first latch the supplied kitchen could win before the other one
// even started (when_any then never runs it: there would be no parked loser to show). "Arrived"
// is counted just before the wait, so a stop could in principle come between the two; the wait
// then sees the stop as it begins and throws task_cancelled without parking, the same outcome.
// In practice the winner's whole delivery and cooking lies in between, and the loser is parked.
//
// A watchdog thread gives up on the main thread's waits after a time limit: a chapter about
// waits that end must report a wait that does not, not hang in it.
#include <algorithm>
#include <array>
#include <brigade/brigade.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

using std::chrono::steady_clock;
using seconds_as_double = std::chrono::duration<double>;

constexpr std::size_t races = 1'000;
constexpr std::size_t batch_rounds = 20;           // each batch scene runs this often; one is shown
constexpr std::chrono::seconds give_up_after{20};  // the whole chapter takes milliseconds

// --- The watchdog -------------------------------------------------------------------------------

// Stops its token once `limit` has passed, unless it is destroyed first. The main thread's
// blocking waits take the token (join(token), wait(token), send(value, token)),
// so a wait that never ends becomes a task_cancelled the chapter can report.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit)
      : thread_([this, limit](std::stop_token chapter_over) { watch(chapter_over, limit); }) {}

  [[nodiscard]] std::stop_token token() const noexcept { return expired_.get_token(); }
  [[nodiscard]] bool expired() const noexcept { return expired_.stop_requested(); }

 private:
  void watch(const std::stop_token& chapter_over, std::chrono::seconds limit) {
    std::mutex unused;
    std::condition_variable_any never_notified;  // woken by chapter_over's stop, or times out
    std::unique_lock lock(unused);
    (void)never_notified.wait_for(lock, chapter_over, limit, [] { return false; });
    if (!chapter_over.stop_requested()) expired_.request_stop();
  }

  std::stop_source expired_;  // declared before thread_, which uses it
  std::jthread thread_;       // asked to stop and joined when the watchdog is destroyed
};

// Joins `handle` on this (the main) thread; nothing if the watchdog expired first.
template <class T>
std::optional<T> join_unless_hung(join_handle<T>& handle, const watchdog& time_limit) {
  try {
    return handle.join(time_limit.token());
  } catch (const task_cancelled&) {
    if (time_limit.expired()) return std::nullopt;
    throw;  // the task itself was cancelled: not a hang, an error
  }
}

// Whether a part of the chapter ran to its end (its checks may still have failed) or hung.
enum class part_end { finished, hung };

// A part that is left early (the watchdog expired, or an unexpected error) may leave tasks parked
// that point into the part's locals: shutting the runtime down destroys them first (their waits
// unlink from the primitives). Declare it after the state those tasks use.
class shut_down_unless_finished {
 public:
  explicit shut_down_unless_finished(runtime& rt) noexcept : rt_(rt) {}
  ~shut_down_unless_finished() {
    if (!finished_) rt_.shutdown();
  }
  shut_down_unless_finished(const shut_down_unless_finished&) = delete;
  shut_down_unless_finished& operator=(const shut_down_unless_finished&) = delete;
  void finished() noexcept { finished_ = true; }

 private:
  runtime& rt_;
  bool finished_ = false;
};

// --- Scene 1: the race --------------------------------------------------------------------------

constexpr std::array<std::string_view, 2> kitchen_names{"A", "B"};
constexpr std::array<std::string_view, 2> ingredients{"noodles", "rice"};

// What one kitchen did in one race. Written by its task; read by the race after when_any returns,
// which happens after both kitchens have finished (and orders their writes before it).
struct kitchen_log {
  bool served = false;                  // its ingredients came and it cooked
  bool stopped_waiting = false;         // its recv() ended with task_cancelled
  steady_clock::time_point ended_at{};  // when it served, or when its wait was stopped
};

// A kitchen: arrives at its counter, waits for ingredients, cooks. Its recv() is where a stop
// finds it when the other kitchen wins; it records that and lets the task_cancelled go on.
task<std::string> kitchen(std::size_t which, receiver<std::string_view> counter,
                          brigade::latch& both_at_counters, kitchen_log& log) {
  both_at_counters.count_down();
  std::optional<std::string_view> delivered;
  try {
    delivered = co_await counter.recv_async();
  } catch (const task_cancelled&) {
    log.ended_at = steady_clock::now();
    log.stopped_waiting = true;
    throw;
  }
  if (!delivered) throw std::logic_error("a kitchen's counter closed: the race holds its sender");
  std::string dish = fmt::format("{}, cooked by kitchen {}", *delivered, kitchen_names[which]);
  log.served = true;
  log.ended_at = steady_clock::now();
  co_return dish;
}

// The supplier: once both kitchens wait at their counters, delivers to one of them.
task<void> supply(brigade::latch& both_at_counters, sender<std::string_view> counter,
                  std::string_view goods) {
  co_await both_at_counters.wait_async();
  co_await counter.send_async(goods);
}

struct race_result {
  std::size_t supplied = 0;  // the kitchen whose ingredients came
  std::size_t winner = 0;    // the kitchen whose dish when_any returned
  std::string dish;
  std::array<kitchen_log, 2> kitchens;
  bool loser_left_its_counter = false;  // nobody is still parked on the loser's channel
};

task<race_result> race_once(std::size_t supplied) {
  race_result race;
  race.supplied = supplied;
  // Both ends in one object each: the channels stay open (nobody closes the loser's counter;
  // the loser waits for a value, not for a close).
  const channel<std::string_view> counter_a(0);
  const channel<std::string_view> counter_b(0);
  const std::array<const channel<std::string_view>*, 2> counters{&counter_a, &counter_b};
  brigade::latch both_at_counters(2);

  join_handle<void> supplier =
      spawn(supply(both_at_counters, counters[supplied]->as_sender(), ingredients[supplied]));
  // The kitchens are made before the co_await, so that no temporary with a destructor (a receiver
  // each) is part of it: GCC 12 can destroy such temporaries twice (docs/ARCHITECTURE.md).
  task<std::string> kitchen_a =
      kitchen(0, counter_a.as_receiver(), both_at_counters, race.kitchens[0]);
  task<std::string> kitchen_b =
      kitchen(1, counter_b.as_receiver(), both_at_counters, race.kitchens[1]);
  std::variant<std::string, std::string> first =
      co_await when_any(std::move(kitchen_a), std::move(kitchen_b));
  co_await supplier;

  race.winner = first.index();
  race.dish = race.winner == 0 ? std::get<0>(std::move(first)) : std::get<1>(std::move(first));
  // A rendezvous channel takes a value without waiting only from a parked receiver: the stopped
  // loser must have left the queue.
  race.loser_left_its_counter =
      counters[1 - race.winner]->try_send(std::string_view("late")) == channel_status::would_block;
  co_return race;
}

struct race_summary {
  race_result last;  // shown in full (the first one runs cold)
  std::size_t supplied_kitchen_won = 0;
  std::size_t loser_stopped_waiting = 0;  // its recv() ended with task_cancelled
  std::size_t loser_left_its_counter = 0;
  std::vector<seconds_as_double> stop_delays;  // loser stopped, after the winner served
};

task<race_summary> run_races(std::size_t count) {
  race_summary summary;
  summary.stop_delays.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    race_result race = co_await race_once(i % 2);
    const std::size_t loser = 1 - race.winner;
    if (race.winner == race.supplied && race.kitchens[race.winner].served)
      ++summary.supplied_kitchen_won;
    if (race.kitchens[loser].stopped_waiting) {
      ++summary.loser_stopped_waiting;
      summary.stop_delays.push_back(race.kitchens[loser].ended_at -
                                    race.kitchens[race.winner].ended_at);
    }
    if (race.loser_left_its_counter) ++summary.loser_left_its_counter;
    if (i + 1 == count) summary.last = std::move(race);
  }
  co_return summary;
}

part_end show_the_race(tour_context& ctx, runtime& rt, const watchdog& time_limit,
                       std::vector<std::string>& failures) {
  ctx.paragraph(
      "Promise.race, with brigade::when_any: the customer orders from kitchens A and B and takes "
      "the first dish. Each kitchen waits for its ingredients with `co_await counter.recv_async()`; "
      "once both wait, a supplier delivers to one.");
  std::fflush(stdout);
  join_handle<race_summary> handle = rt.spawn(run_races(races));
  const std::optional<race_summary> summary = join_unless_hung(handle, time_limit);
  if (!summary) {
    failures.push_back(fmt::format(
        "the races did not end within {} s: a losing kitchen was not woken from its recv()",
        give_up_after.count()));
    return part_end::hung;
  }

  const race_result& shown = summary->last;
  const std::size_t loser = 1 - shown.winner;
  ctx.fact(fmt::format("race {}", group_digits(races)),
           fmt::format("kitchen {} got its {} and won: \"{}\"", kitchen_names[shown.winner],
                       ingredients[shown.winner], shown.dish));
  ctx.fact(fmt::format("kitchen {}", kitchen_names[loser]),
           shown.kitchens[loser].stopped_waiting
               ? fmt::format("parked in recv(): task_cancelled {} after the win",
                             format_duration(shown.kitchens[loser].ended_at -
                                             shown.kitchens[shown.winner].ended_at))
               : std::string("NOT stopped in its recv()"));
  ctx.fact("every race",
           fmt::format("the supplied kitchen won {} of {}, A and B in turn",
                       group_digits(summary->supplied_kitchen_won), group_digits(races)));
  ctx.fact("losers", fmt::format("{} stopped in recv(), {} left queued on their channel",
                                 group_digits(summary->loser_stopped_waiting),
                                 group_digits(races - summary->loser_left_its_counter)));
  std::vector<seconds_as_double> delays = summary->stop_delays;
  std::sort(delays.begin(), delays.end());
  if (!delays.empty()) {
    ctx.fact("stopped after win", fmt::format("median {}, 99% within {}, slowest {}",
                                              format_duration(delays[delays.size() / 2]),
                                              format_duration(delays[delays.size() * 99 / 100]),
                                              format_duration(delays.back())));
  }
  ctx.gap();

  if (summary->supplied_kitchen_won != races)
    failures.push_back("a race was won by a kitchen that got no ingredients");
  if (summary->loser_stopped_waiting != races)
    failures.push_back("a losing kitchen's recv() did not end with task_cancelled");
  if (summary->loser_left_its_counter != races)
    failures.push_back("a stopped kitchen was still queued on its channel after the race");
  return part_end::finished;
}

// --- Scenes 2 and 3: the batch ------------------------------------------------------------------

class kitchen_fire : public std::runtime_error {
 public:
  kitchen_fire() : std::runtime_error("the fryer caught fire") {}
};

enum class job_state { waiting, done, stopped, failed };

// One job of the batch. Written by the job's task only; read by the main thread after it joined
// the batch (the join orders the writes before the read).
struct job_record {
  std::string_view name;
  std::string_view waits_for;  // what it parks on, for the report
  job_state state = job_state::waiting;
  std::string_view received;  // a delivery job's goods
  steady_clock::time_point ended_at{};

  void finish(job_state how) noexcept {
    state = how;
    ended_at = steady_clock::now();
  }
};

constexpr std::size_t pantry_jobs = 3;
constexpr std::size_t delivery_jobs = 3;
constexpr std::size_t job_count = 1 + pantry_jobs + delivery_jobs + 1;  // + tables, + fryer
constexpr std::size_t tables_job = 0;
constexpr std::size_t first_pantry_job = 1;
constexpr std::size_t first_delivery_job = first_pantry_job + pantry_jobs;
constexpr std::size_t fryer_job = job_count - 1;  // spawned last (see start_jobs)
constexpr std::array<std::string_view, pantry_jobs> pantry_job_names{
    "fetch the flour", "fetch the sugar", "fetch the salt"};
constexpr std::array<std::string_view, delivery_jobs> delivery_job_names{
    "take delivery 1", "take delivery 2", "take delivery 3"};
constexpr std::array<std::string_view, delivery_jobs> delivered_goods{"fish", "bread", "lemons"};

// What one batch shares. The main thread owns it, holds the pantry, keeps the deliveries' sender,
// and joins the batch before this goes.
struct batch_state {
  batch_state(brigade::mutex& pantry_held_by_main, receiver<std::string_view> incoming)
      : pantry(pantry_held_by_main), deliveries(std::move(incoming)) {
    describe(tables_job, "set the tables", "nothing");
    for (std::size_t i = 0; i < pantry_jobs; ++i)
      describe(first_pantry_job + i, pantry_job_names[i], "the pantry");
    for (std::size_t i = 0; i < delivery_jobs; ++i)
      describe(first_delivery_job + i, delivery_job_names[i], "a delivery");
    describe(fryer_job, "light the fryer", "the others");
  }
  batch_state(const batch_state&) = delete;
  batch_state& operator=(const batch_state&) = delete;

  brigade::mutex& pantry;                        // locked by the main thread
  receiver<std::string_view> deliveries;         // nobody sends, until the main thread does
  brigade::latch at_their_posts{job_count - 1};  // every job but the fryer, arrived at its wait
  brigade::event fire_reported;                  // set by the fryer just before it throws
  std::array<job_record, job_count> jobs;

 private:
  void describe(std::size_t job, std::string_view name, std::string_view waits_for) noexcept {
    jobs[job].name = name;
    jobs[job].waits_for = waits_for;
  }
};

task<void> set_the_tables(job_record& record, brigade::latch& at_their_posts) {
  record.finish(job_state::done);
  at_their_posts.count_down();
  co_return;
}

task<void> fetch_from_the_pantry(job_record& record, brigade::mutex& pantry,
                                 brigade::latch& at_their_posts) {
  at_their_posts.count_down();
  try {
    auto held = co_await pantry.lock_async();
    record.finish(job_state::done);
  } catch (const task_cancelled&) {
    record.finish(job_state::stopped);
    throw;
  }
}

task<void> take_a_delivery(job_record& record, receiver<std::string_view> deliveries,
                           brigade::latch& at_their_posts) {
  at_their_posts.count_down();
  try {
    const std::optional<std::string_view> goods = co_await deliveries.recv_async();
    record.received = goods.value_or("nothing: the channel closed");
    record.finish(job_state::done);
  } catch (const task_cancelled&) {
    record.finish(job_state::stopped);
    throw;
  }
}

task<void> light_the_fryer(job_record& record, brigade::latch& at_their_posts,
                           brigade::event& fire_reported) {
  co_await at_their_posts.wait_async();  // every other job has arrived at its wait (or ended)
  record.finish(job_state::failed);
  fire_reported.set();
  throw kitchen_fire();
}

// The batch's eight jobs, not started yet; the fryer last.
std::vector<task<void>> make_jobs(batch_state& batch) {
  std::vector<task<void>> jobs;
  jobs.reserve(job_count);
  jobs.push_back(set_the_tables(batch.jobs[tables_job], batch.at_their_posts));
  for (std::size_t i = 0; i < pantry_jobs; ++i)
    jobs.push_back(fetch_from_the_pantry(batch.jobs[first_pantry_job + i], batch.pantry,
                                         batch.at_their_posts));
  for (std::size_t i = 0; i < delivery_jobs; ++i)
    jobs.push_back(take_a_delivery(batch.jobs[first_delivery_job + i], batch.deliveries,
                                   batch.at_their_posts));
  jobs.push_back(light_the_fryer(batch.jobs[fryer_job], batch.at_their_posts, batch.fire_reported));
  return jobs;
}

task<void> start_jobs(task_group& group, batch_state& batch) {
  std::vector<task<void>> jobs = make_jobs(batch);
  for (task<void>& job : jobs) group.spawn(std::move(job));
  co_return;
}

// What with_task_group did: rethrew the fire, or something else.
struct group_verdict {
  bool rethrew_the_fire = false;
  std::string what;
};

task<group_verdict> run_as_task_group(batch_state& batch) {
  group_verdict verdict;
  // The body is not itself a coroutine: it hands its state to start_jobs as parameters.
  const auto body = [&batch](task_group& group) { return start_jobs(group, batch); };
  try {
    co_await with_task_group(body);
    verdict.what = "nothing: it returned normally";
  } catch (const kitchen_fire& fire) {
    verdict.rethrew_the_fire = true;
    verdict.what = fire.what();
  } catch (const std::exception& other) {
    verdict.what = fmt::format("another error: {}", other.what());
  }
  co_return verdict;
}

task<std::vector<outcome<void>>> run_as_gather(batch_state& batch) {
  std::vector<task<void>> jobs = make_jobs(batch);
  co_return co_await gather(std::move(jobs));
}

std::string describe_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown exception";
  }
}

// The pantry and the channel after a batch: a stopped waiter must have left both queues. An
// unlock hands the mutex to the first task queued, so the main thread's try_lock succeeds only
// if none is; a rendezvous channel takes a value without waiting only from a parked receiver.
bool nothing_left_behind(std::unique_lock<brigade::mutex>& pantry_held,
                         const channel<std::string_view>& deliveries) {
  pantry_held.unlock();
  const bool pantry_free = pantry_held.try_lock();
  const bool nobody_receiving =
      deliveries.try_send(std::string_view("late")) == channel_status::would_block;
  return pantry_free && nobody_receiving;
}

// One run of the batch in a task group, copied out once it has ended.
struct grouped_batch {
  std::array<job_record, job_count> jobs;
  group_verdict verdict;
  bool left_nothing = false;  // see nothing_left_behind
};

// Runs the batch once in a task group, the main thread holding the pantry; nothing if it hung.
std::optional<grouped_batch> run_grouped_batch(runtime& rt, brigade::mutex& pantry,
                                               const watchdog& time_limit) {
  std::unique_lock<brigade::mutex> pantry_held(pantry);
  const channel<std::string_view> deliveries(0);  // this side keeps it open, and never sends
  batch_state batch(pantry, deliveries.as_receiver());
  shut_down_unless_finished on_early_exit(rt);
  join_handle<group_verdict> handle = rt.spawn(run_as_task_group(batch));
  std::optional<group_verdict> verdict = join_unless_hung(handle, time_limit);
  if (!verdict) return std::nullopt;
  on_early_exit.finished();
  const bool left_nothing = nothing_left_behind(pantry_held, deliveries);
  return grouped_batch{batch.jobs, std::move(*verdict), left_nothing};
}

// What went wrong in one grouped batch; empty when everything held.
std::vector<std::string> problems_of(const grouped_batch& run) {
  std::vector<std::string> problems;
  if (!run.verdict.rethrew_the_fire)
    problems.push_back(
        fmt::format("with_task_group did not rethrow the fire: {}", run.verdict.what));
  std::size_t stopped = 0;
  for (std::size_t i = 0; i < job_count; ++i) {
    const job_state expected = i == tables_job  ? job_state::done
                               : i == fryer_job ? job_state::failed
                                                : job_state::stopped;
    if (run.jobs[i].state == job_state::stopped) ++stopped;
    if (run.jobs[i].state == job_state::waiting)
      problems.push_back(fmt::format(
          "\"{}\" had not reported its end when with_task_group returned", run.jobs[i].name));
    else if (run.jobs[i].state != expected)
      problems.push_back(fmt::format("\"{}\" did not end as it must", run.jobs[i].name));
  }
  if (stopped != pantry_jobs + delivery_jobs)
    problems.push_back(
        fmt::format("{} of the {} parked jobs were stopped", stopped, pantry_jobs + delivery_jobs));
  if (!run.left_nothing)
    problems.push_back("a stopped job stayed queued on the pantry or the channel");
  return problems;
}

std::string describe_job(const job_record& job, steady_clock::time_point fire) {
  switch (job.state) {
    case job_state::waiting:
      return "STILL WAITING when its batch returned";
    case job_state::done:
      return "done";
    case job_state::failed:
      return "threw kitchen_fire";
    case job_state::stopped:
      return fmt::format("waited for {}: task_cancelled {} after the fire", job.waits_for,
                         format_duration(job.ended_at - fire));
  }
  return "?";
}

// Runs `run_one` `batch_rounds` times and keeps the round to show: the first that failed (its
// problems go to `failures`), or else the last. Nothing if a round hung.
template <class Round, class RunOne>
std::optional<Round> run_rounds(RunOne run_one, std::vector<std::string>& failures,
                                std::size_t& failed_rounds) {
  std::optional<Round> shown;
  bool showing_a_failure = false;
  failed_rounds = 0;
  for (std::size_t round = 1; round <= batch_rounds; ++round) {
    std::optional<Round> run = run_one();
    if (!run) return std::nullopt;
    const std::vector<std::string> problems = problems_of(*run);
    if (!problems.empty()) {
      ++failed_rounds;
      if (!showing_a_failure) {
        for (const std::string& problem : problems)
          failures.push_back(fmt::format("round {}: {}", round, problem));
        showing_a_failure = true;
        shown = std::move(run);
      }
    } else if (!showing_a_failure) {
      shown = std::move(run);
    }
  }
  return shown;
}

std::string describe_rounds(std::size_t failed_rounds) {
  if (failed_rounds == 0)
    return fmt::format("{}, each checked, all as this last one", batch_rounds);
  return fmt::format("{} of {} FAILED; shown: the first of them", failed_rounds, batch_rounds);
}

part_end show_the_task_group(tour_context& ctx, runtime& rt, brigade::mutex& pantry,
                             const watchdog& time_limit, std::vector<std::string>& failures) {
  ctx.paragraph(fmt::format(
      "asyncio.TaskGroup, with brigade::with_task_group: a batch of {} jobs. {} wait for the "
      "pantry (`co_await pantry.lock_async()`, a brigade::mutex the main thread holds), {} for "
      "a delivery (`co_await deliveries.recv_async()`, a channel nobody sends on); one sets the "
      "tables; one lights the fryer once the others are at their posts, and it catches fire.",
      job_count, pantry_jobs, delivery_jobs));
  std::fflush(stdout);

  std::size_t failed_rounds = 0;
  const std::optional<grouped_batch> shown = run_rounds<grouped_batch>(
      [&] { return run_grouped_batch(rt, pantry, time_limit); }, failures, failed_rounds);
  if (!shown) {
    failures.push_back(
        fmt::format("a task group did not end within {} s: a parked job was not woken by the stop",
                    give_up_after.count()));
    return part_end::hung;
  }

  std::size_t stopped = 0;
  for (const job_record& job : shown->jobs) {
    if (job.state == job_state::stopped) ++stopped;
    ctx.fact(job.name, describe_job(job, shown->jobs[fryer_job].ended_at));
  }
  ctx.fact("with_task_group",
           shown->verdict.rethrew_the_fire
               ? fmt::format("rethrew \"{}\", once all {} jobs had ended", shown->verdict.what,
                             job_count)
               : fmt::format("did NOT rethrow the fire: {}", shown->verdict.what));
  ctx.fact("stopped",
           fmt::format("{} of the {} parked jobs", stopped, pantry_jobs + delivery_jobs));
  ctx.fact("left behind", shown->left_nothing
                              ? "nothing: the pantry unlocked to nobody, no receiver queued"
                              : "a stopped job was STILL QUEUED on the pantry or the channel");
  ctx.fact("rounds", describe_rounds(failed_rounds));
  ctx.gap();
  return part_end::finished;
}

// One run of the batch under gather, copied out once it has ended.
struct gathered_batch {
  std::array<job_record, job_count> jobs;
  std::vector<outcome<void>> outcomes;
};

// Runs the batch once under gather; once the fire is reported, the main thread unlocks the pantry
// and sends the deliveries. Nothing if it hung.
std::optional<gathered_batch> run_gathered_batch(runtime& rt, brigade::mutex& pantry,
                                                 const watchdog& time_limit) {
  std::unique_lock<brigade::mutex> pantry_held(pantry);
  const channel<std::string_view> deliveries(0);
  batch_state batch(pantry, deliveries.as_receiver());
  shut_down_unless_finished on_early_exit(rt);
  join_handle<std::vector<outcome<void>>> handle = rt.spawn(run_as_gather(batch));
  std::optional<std::vector<outcome<void>>> outcomes;
  try {
    batch.fire_reported.wait(time_limit.token());
    pantry_held.unlock();
    for (const std::string_view goods : delivered_goods)
      deliveries.send(goods, time_limit.token());
    outcomes = join_unless_hung(handle, time_limit);
  } catch (const task_cancelled&) {
    if (!time_limit.expired()) throw;
  }
  if (!outcomes) return std::nullopt;
  on_early_exit.finished();
  return gathered_batch{batch.jobs, std::move(*outcomes)};
}

std::vector<std::string> problems_of(const gathered_batch& run) {
  std::vector<std::string> problems;
  if (run.outcomes.size() != job_count) {
    problems.push_back(
        fmt::format("gather gave {} outcomes for {} jobs", run.outcomes.size(), job_count));
    return problems;
  }
  for (std::size_t i = 0; i < job_count; ++i) {
    const bool must_fail = i == fryer_job;
    if (run.outcomes[i].has_error() != must_fail)
      problems.push_back(fmt::format("gather: \"{}\" {}", run.jobs[i].name,
                                     must_fail ? "did not fail" : "failed"));
    if (!must_fail && run.jobs[i].state != job_state::done)
      problems.push_back(fmt::format("gather returned before \"{}\" was done", run.jobs[i].name));
  }
  return problems;
}

part_end show_gather(tour_context& ctx, runtime& rt, brigade::mutex& pantry,
                     const watchdog& time_limit, std::vector<std::string>& failures) {
  ctx.paragraph(
      "asyncio.gather(*tasks, return_exceptions=True), as the essay writes it, with "
      "brigade::gather: the same jobs. The fire stops nobody: once it is reported, the main "
      "thread unlocks the pantry and sends the deliveries, and every other job ends its own way.");
  std::fflush(stdout);

  std::size_t failed_rounds = 0;
  const std::optional<gathered_batch> shown = run_rounds<gathered_batch>(
      [&] { return run_gathered_batch(rt, pantry, time_limit); }, failures, failed_rounds);
  if (!shown) {
    failures.push_back(
        fmt::format("a gathered batch did not end within {} s", give_up_after.count()));
    return part_end::hung;
  }

  std::size_t values = 0;
  std::size_t errors = 0;
  for (std::size_t i = 0; i < job_count && i < shown->outcomes.size(); ++i) {
    const job_record& job = shown->jobs[i];
    if (shown->outcomes[i].has_error()) {
      ++errors;
      ctx.fact(job.name, fmt::format("error: {}", describe_error(shown->outcomes[i].error())));
    } else {
      ++values;
      if (job.state != job_state::done)
        ctx.fact(job.name, "NOT done, yet gather returned");
      else if (i >= first_delivery_job && i < first_delivery_job + delivery_jobs)
        ctx.fact(job.name, fmt::format("done: took the {}", job.received));
      else if (i >= first_pantry_job && i < first_pantry_job + pantry_jobs)
        ctx.fact(job.name, "done, once the main thread unlocked the pantry");
      else
        ctx.fact(job.name, "done");
    }
  }
  ctx.fact("gather", fmt::format("{} values and {} error{}, in the jobs' order", values, errors,
                                 errors == 1 ? "" : "s"));
  ctx.fact("rounds", describe_rounds(failed_rounds));
  ctx.gap();
  return part_end::finished;
}

chapter_result run(tour_context& ctx) {
  brigade::mutex pantry;  // before the runtime: it outlives every task that waits on it
  runtime rt({.worker_threads = ctx.workers()});
  const watchdog time_limit(give_up_after);

  ctx.fact("workers", fmt::format("{}", rt.worker_count()));
  ctx.fact("races", fmt::format("{}, one customer and two kitchens each", group_digits(races)));
  ctx.fact("batch", fmt::format("{} jobs, {} times in a task group, then {} times gathered",
                                job_count, batch_rounds, batch_rounds));
  ctx.gap();

  std::vector<std::string> failures;
  bool hung = show_the_race(ctx, rt, time_limit, failures) == part_end::hung;
  if (!hung) hung = show_the_task_group(ctx, rt, pantry, time_limit, failures) == part_end::hung;
  if (!hung) hung = show_gather(ctx, rt, pantry, time_limit, failures) == part_end::hung;

  if (!hung) {
    ctx.paragraph(
        "Each stopped wait was a task parked on a channel or a mutex, costing no CPU and "
        "reaching no cancellation point of its own. The stop request finds it through the "
        "scope it runs in (when_any's, the task group's), takes it off the channel's or the "
        "mutex's queue and wakes it; the wait throws task_cancelled, holding nothing. (The six "
        "jobs of a batch are woken together and then run one after another, each throwing and "
        "rethrowing its task_cancelled: hence the few microseconds between them.) That is "
        "what lets when_any and with_task_group wait for every child before they return: a "
        "loser is over in microseconds, not never. JavaScript cannot stop the losing promise at "
        "all, and asyncio.gather without return_exceptions raises the first error but leaves "
        "the other tasks running; asyncio.TaskGroup cancels them, as the group here does. A "
        "timeout is the same race against a clock: brigade has no timers yet, so here the "
        "rival is a second kitchen.");
  }

  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_impatient_customer_chapter() {
  static constexpr chapter c{
      .slug = "the-impatient-customer",
      .title = "the impatient customer",
      .summary = "Promise.race and a failing task group: a stop wakes the tasks parked in waits",
      .essay =
          "The first essay's async kitchen: \"Promise.all is our timer bell - it rings when ALL "
          "promises complete\", and asyncio.gather(*tasks, return_exceptions=True) collects every "
          "result or exception, each request with a timeout. Neither says what becomes of work "
          "nobody waits for any more: the kitchen that lost the race, the jobs still waiting "
          "when one of their batch has failed. Here the customer is impatient. The first dish "
          "wins (Promise.race, brigade::when_any), the first failure ends the batch "
          "(brigade::with_task_group), and the work left over is stopped even while it waits "
          "on a channel or a lock. Then the same batch through brigade::gather, which stops "
          "nothing and collects every outcome.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
