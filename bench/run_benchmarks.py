#!/usr/bin/env python3
"""Run brigade's benchmarks and their peers side by side and print a markdown table.

    python3 bench/run_benchmarks.py                  # build the `release` preset if needed, run all
    python3 bench/run_benchmarks.py --write-docs     # ... and put the table into docs/benchmarks.md
    python3 bench/run_benchmarks.py --build-dir /tmp/benchbuild --only skynet,fib --rounds 3
    python3 bench/run_benchmarks.py --baseline 27349e8 --only chan_pingpong_1 --impls brigade
                                                     # A/B: this tree against commit 27349e8
    python3 bench/run_benchmarks.py --only skynet,fib,spawn --libfork ../libfork --toomanycooks ../TooManyCooks
                                                     # also the peers built from those checkouts

How it measures (see docs/benchmarks.md):
  * Every round of every implementation is a fresh process. Rounds are interleaved: brigade's
    round 0, then each peer's round 0, then brigade's round 1, ... so that slow drifts of this
    shared 2-vCPU machine hit every implementation alike.
  * Inside a process a program runs a few iterations. Iteration 0 is the cold one (new threads,
    first-touch page faults, empty pools); the median of the later ones is that round's warm
    figure. The table gives, over the rounds, the median and the min-max range of both.
  * ratio = peer / brigade of the medians (warm where there is one, else cold). For times,
    bytes and CPU (lower is better) a ratio above 1 means brigade is ahead; for tasks/s (higher
    is better) a ratio below 1 means brigade is ahead.
  * --baseline REV (a git revision, or a configured build directory) adds that build of brigade
    as one more implementation, "baseline", run in the same interleaved rounds as this tree's;
    its ratio column is baseline / brigade, so a change that costs 3% shows as 0.97 for times.
    A revision is checked out with `git worktree` under build/baseline/<sha>, and THIS tree's
    bench/ programs are built against its library (bench/CMakeLists.txt, BRIGADE_LIBRARY_SOURCE;
    Release, the same compiler): both sides run the same benchmark code. A program that does
    not build against the older library, and the workloads in BASELINE_SKIPS (which need what
    the older library lacks), are left out of the baseline.
  * The TCP rows (tcp_echo, idle_connections) run servers: per round, the server is started, its
    {"listening":PORT} line read, bench/peers/echo_load_client.cpp drives it (the same client for
    every server: --echo-seconds of echo load, or --idle-connections held open while the server
    measures its RSS), then the server gets SIGTERM and must exit 0. The server's CPU over the
    client's run is added to the echo line (server_cores, from /proc/PID/stat).
  * Every program checks its answer (skynet's sum, fib's value, counts); a failed check or a
    crash is shown in the table and makes this script exit with status 1.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
BEGIN_MARK = "<!-- BEGIN BENCHMARK RESULTS (written by bench/run_benchmarks.py) -->"
END_MARK = "<!-- END BENCHMARK RESULTS -->"

# implementation -> workload -> (executable, value of --workload)
PROGRAMS = {
    "brigade": {
        "skynet": ("brigade_fork_join", "skynet"),
        "fib": ("brigade_fork_join", "fib"),
        "spawn": ("brigade_fork_join", "spawn"),
        "memory": ("brigade_memory", "memory"),
        "memory_structured": ("brigade_memory", "memory_structured"),
        "join_latency": ("brigade_join_latency", "join_latency"),
        "idle": ("brigade_idle", "idle"),
        "mutex_contended": ("brigade_mutex", "mutex_contended"),
        "mutex_handoff": ("brigade_mutex", "mutex_handoff"),
        "mutex_uncontended": ("brigade_mutex", "mutex_uncontended"),
        "mutex_uncontended_task": ("brigade_mutex", "mutex_uncontended_task"),
        "mutex_hog": ("brigade_mutex", "mutex_hog"),
        "chan_pingpong": ("brigade_channel", "chan_pingpong"),
        "chan_pingpong_thread": ("brigade_channel", "chan_pingpong_thread"),
        "chan_mpmc": ("brigade_channel", "chan_mpmc"),
        "hash_map": ("brigade_hash_map", "hash_map"),
        "hash_map_compute_reads": ("brigade_hash_map", "hash_map_compute_reads"),
        "cancel_latency": ("brigade_cancel", "cancel_latency"),
        "cancel_latency_thread": ("brigade_cancel", "cancel_latency_thread"),
        # Issue 16, the reactor. tcp_echo and idle_connections name servers (see SERVER_WORKLOADS).
        "tcp_echo": ("brigade_net", "tcp_echo_server"),
        "idle_connections": ("brigade_net", "idle_connections_server"),
        "timers_schedule_cancel": ("brigade_timers", "timers_schedule_cancel"),
        "timers_lateness": ("brigade_timers", "timers_lateness"),
        # Issue 17, fibers: brigade's rows are its fibers (go + the blocking forms).
        "skynet_fiber": ("brigade_fiber", "skynet"),
        "chan_pingpong_fiber": ("brigade_fiber", "chan_pingpong"),
        "fiber_yield": ("brigade_fiber", "fiber_yield"),
        "memory_fiber": ("brigade_fiber", "memory"),
        # Issue 18, the thread pool and futures.
        "pool_roundtrip": ("brigade_future", "pool_roundtrip"),
        "pool_throughput": ("brigade_future", "pool_throughput"),
        "then_chain": ("brigade_future", "then_chain"),
    },
    # brigade's then() chain with every continuation run by its thread_pool: then(pool, fn).
    "brigade_pool": {"then_chain": ("brigade_future", "then_chain_pool")},
    # brigade's user-level schedule+cancel: co_await timeout(an awaitable that is ready, 1s).
    "brigade_timeout": {"timers_schedule_cancel": ("brigade_timers", "timers_schedule_cancel_timeout")},
    # brigade's lateness while one more task computes without yielding for the whole window.
    "brigade_busy": {"timers_lateness": ("brigade_timers", "timers_lateness_busy")},
    # brigade's servers on the epoll backend (the default, automatic, takes io_uring where it can).
    "brigade_uring": {"tcp_echo": ("brigade_net", "tcp_echo_server"),
                      "idle_connections": ("brigade_net", "idle_connections_server")},
    # brigade's lateness on one worker (Asio's peer is one thread).
    "brigade_1w": {"timers_lateness": ("brigade_timers", "timers_lateness"),
                   "tcp_echo": ("brigade_net", "tcp_echo_server")},
    "tbb": {
        "skynet": ("tbb_fork_join", "skynet"),
        "fib": ("tbb_fork_join", "fib"),
        "spawn": ("tbb_fork_join", "spawn"),
        "idle": ("tbb_fork_join", "idle"),
    },
    "tbb-map": {"hash_map": ("tbb_hash_map", "hash_map")},
    "go": {
        "skynet": ("go_bench", "skynet"),
        "fib": ("go_bench", "fib"),
        "spawn": ("go_bench", "spawn"),
        "memory": ("go_bench", "memory"),
        "memory_structured": ("go_bench", "memory"),
        "idle": ("go_bench", "idle"),
        "chan_pingpong": ("go_channel", "chan_pingpong"),
        "chan_mpmc": ("go_channel", "chan_mpmc"),
        "cancel_latency": ("go_channel", "cancel_latency"),
        "tcp_echo": ("go_net", "echo"),
        "idle_connections": ("go_net", "idle"),
        "skynet_fiber": ("go_bench", "skynet"),
        "chan_pingpong_fiber": ("go_channel", "chan_pingpong"),
        "fiber_yield": ("go_bench", "yield"),
        "memory_fiber": ("go_bench", "memory"),
    },
    # The hand-written single-threaded epoll echo server in C: the floor of the echo rows.
    "epoll_c": {"tcp_echo": ("epoll_echo_server", "")},
    # Boost.Asio steady_timer, one io_context on one thread.
    "asio": {"timers_schedule_cancel": ("asio_timers", "timers_schedule_cancel"),
             "timers_lateness": ("asio_timers", "timers_lateness")},
    "fiber": {
        "skynet": ("fiber_fork_join", "skynet"),
        "fib": ("fiber_fork_join", "fib"),
        "spawn": ("fiber_fork_join", "spawn"),
        "memory": ("fiber_fork_join", "memory"),
        "idle": ("fiber_fork_join", "idle"),
        "skynet_fiber": ("fiber_fork_join", "skynet"),
        "fiber_yield": ("fiber_fork_join", "fiber_yield"),
        "memory_fiber": ("fiber_fork_join", "memory"),
    },
    "fiber-channel": {"chan_pingpong": ("fiber_channel", "chan_pingpong"),
                      "chan_pingpong_fiber": ("fiber_channel", "chan_pingpong")},
    # Boost.Fiber's work_stealing(N, suspend=true): idle threads sleep instead of spinning.
    "fiber-suspend": {"idle": ("fiber_fork_join", "idle-suspend")},
    # Reference for the join latency: two threads and a std::condition_variable.
    "condvar": {"join_latency": ("std_join_latency", "join_latency")},
    # std::mutex: the peer of the contended mutex (the same two threads), and the reference for
    # the task hand-off (two threads passing a std::mutex by turns with a condition_variable).
    "std-mutex": {"mutex_contended": ("std_mutex", "mutex_contended"),
                  "mutex_handoff": ("std_mutex", "mutex_handoff"),
                  "mutex_uncontended": ("std_mutex", "mutex_uncontended"),
                  "mutex_hog": ("std_mutex", "mutex_hog")},
    # The ceiling for the bounded channel: a lock-free queue without blocking semantics.
    "moodycamel": {"chan_mpmc": ("moodycamel_queue", "chan_mpmc")},
    "libcuckoo": {"hash_map": ("cuckoo_hash_map", "hash_map")},
    # The thread pool's peers (issue 18). std::async starts a thread per job (no pool).
    "std-async": {"pool_roundtrip": ("std_future", "pool_roundtrip"),
                  "pool_throughput": ("std_future", "pool_throughput")},
    "asio-pool": {"pool_roundtrip": ("asio_pool", "pool_roundtrip"),
                  "pool_throughput": ("asio_pool", "pool_throughput"),
                  "then_chain": ("asio_pool", "then_chain")},
    # Java (OpenJDK): Executors.newFixedThreadPool + Future.get, CompletableFuture.thenApply; the
    # program is a script that runs the jar (bench/CMakeLists.txt).
    "java": {"pool_roundtrip": ("java_future", "pool_roundtrip"),
             "pool_throughput": ("java_future", "pool_throughput"),
             "then_chain": ("java_future", "then_chain")},
    # CompletableFuture.thenApplyAsync on the fixed pool: every step a task of the pool.
    "java-async": {"then_chain": ("java_future", "then_chain_async")},
    # Issue 19: built only from a checkout of each (--libfork DIR, --toomanycooks DIR; see
    # bench/CMakeLists.txt), with the compiler and flags in <program>.build.json.
    "libfork": {"skynet": ("libfork_fork_join", "skynet"),
                "fib": ("libfork_fork_join", "fib"),
                "spawn": ("libfork_fork_join", "spawn")},
    # The same libfork program built with brigade's compiler (clang-16, the README's), where the
    # one above is built with g++: skynet and fib only (its spawn program crashed with clang-16).
    "libfork-clang": {"skynet": ("libfork_fork_join_build_compiler", "skynet"),
                      "fib": ("libfork_fork_join_build_compiler", "fib")},
    "tmc": {"skynet": ("tmc_fork_join", "skynet"),
            "fib": ("tmc_fork_join", "fib"),
            "spawn": ("tmc_fork_join", "spawn")},
}

PROGRAMS["baseline"] = dict(PROGRAMS["brigade"])
# Workloads a baseline build cannot run: the cancellation latency (an older library does not wake
# a parked task on abort(): the program would wait for its timeout).
BASELINE_SKIPS = {"cancel_latency", "cancel_latency_thread"}

IMPL_LABELS = {
    "brigade": "brigade",
    "baseline": "brigade, baseline build",
    "tbb": "oneTBB task_group",
    "go": "Go goroutines",
    "fiber": "Boost.Fiber work_stealing",
    "fiber-suspend": "Boost.Fiber work_stealing(suspend=true)",
    "condvar": "std::condition_variable (2 threads)",
    "std-mutex": "std::mutex",
    "moodycamel": "moodycamel::ConcurrentQueue (threads)",
    "tbb-map": "oneTBB concurrent_hash_map",
    "fiber-channel": "Boost.Fiber unbuffered_channel",
    "libcuckoo": "libcuckoo cuckoohash_map",
    "brigade_timeout": "brigade, timeout()",
    "brigade_busy": "brigade, one worker kept busy",
    "brigade_1w": "brigade, 1 worker",
    "brigade_uring": "brigade, io_uring backend",
    "epoll_c": "C, epoll, one thread",
    "asio": "Boost.Asio steady_timer",
    "brigade_pool": "brigade, then(pool, fn)",
    "std-async": "std::async + std::future",
    "asio-pool": "Boost.Asio thread_pool",
    "java": "Java fixed thread pool / CompletableFuture",
    "java-async": "Java CompletableFuture, thenApplyAsync",
    "libfork": "libfork lazy_pool",
    "libfork-clang": "libfork lazy_pool, built with brigade's compiler",
    "tmc": "TooManyCooks ex_cpu",
}

# The workloads whose programs are servers: the runner starts the server, reads its
# {"listening":PORT} line, drives it with echo_load_client, then sends it SIGTERM (run_server_round).
SERVER_WORKLOADS = {"tcp_echo", "idle_connections"}
LOAD_CLIENT = "echo_load_client"
# Environment of an implementation's programs (on top of this process's).
IMPL_ENV = {"brigade_uring": {"BRIGADE_IO_BACKEND": "io_uring"}}
# Servers that run one thread whatever --threads says.
SERVER_THREADS = {"epoll_echo_server": 1}


@dataclass
class Metric:
    key: str  # field of the JSON line
    label: str
    lower_is_better: bool = True
    scale: float = 1.0  # shown value = field * scale
    diagnostic: bool = False  # not a score: no "better" direction shown


@dataclass
class Workload:
    name: str  # row name in the table
    program_workload: str  # key into PROGRAMS
    label: str
    impls: list[str]
    metrics: list[Metric]
    iters: int = 3  # in-process iterations (1 cold + warm ones)
    max_ms: float = 1e12  # programs stop iterating past this (after 2 iterations)
    rounds: int | None = None  # None: --rounds
    args: list[str] = field(default_factory=list)
    impl_args: dict[str, list[str]] = field(default_factory=dict)
    impl_notes: dict[str, str] = field(default_factory=dict)
    # Run the implementations of one round at the same time (only for workloads whose figure is
    # not a time: idle CPU). Implementations listed in `alone` still run by themselves.
    concurrent: bool = False
    alone: tuple[str, ...] = ()
    # "program": each round runs the program and reads its lines; "echo" / "idle_server": each
    # round starts the program as a server and drives it with echo_load_client (run_server_round).
    kind: str = "program"


MS = Metric("ms", "ms")
WORKLOADS = [
    Workload("skynet", "skynet", "skynet 1M",
             ["brigade", "tbb", "go", "fiber", "libfork", "libfork-clang", "tmc"], [MS], iters=6, max_ms=2500,
             impl_notes={"libfork": "10 forks + join", "libfork-clang": "10 forks + join",
                         "tmc": "spawn_many over an array of 10"}),
    Workload("fib", "fib", "fib(32)",
             ["brigade", "tbb", "go", "libfork", "libfork-clang", "tmc"], [MS], iters=6, max_ms=3000,
             args=["--n", "32"],
             impl_notes={"libfork": "fork + call + join", "libfork-clang": "fork + call + join",
                         "tmc": "spawn_tuple"}),
    Workload("fib27", "fib", "fib(27)",
             ["brigade", "fiber"], [MS], iters=6, max_ms=2500, args=["--n", "27"]),
    Workload("spawn", "spawn", "spawn+join 1M",
             ["brigade", "tbb", "go", "fiber", "libfork", "tmc"],
             [MS, Metric("tasks_per_s", "M tasks/s", lower_is_better=False, scale=1e-6)],
             iters=6, max_ms=2500,
             impl_notes={"go": "sync.WaitGroup", "fiber": "detached + countdown",
                         "tbb": "one task_group", "brigade": "join_handles, co_await each",
                         "libfork": "1M lf::fork, a join every 62,500",
                         "tmc": "one fork_group, fork() each"}),
    Workload("memory", "memory", "memory per suspended task",
             ["brigade", "go", "fiber"], [Metric("bytes_per_task", "bytes/task")],
             iters=1, rounds=3, impl_args={"fiber": ["--n", "100000"]},
             impl_notes={"brigade": "1M tasks on one event", "go": "1M goroutines on one channel",
                         "fiber": "100k fibers (16 KiB stacks) on one condition_variable"}),
    Workload("memory_structured", "memory_structured", "memory per suspended task, structured",
             ["brigade", "go"], [Metric("bytes_per_task", "bytes/task")],
             iters=1, rounds=3,
             impl_notes={"brigade": "1M children of one when_all on one event",
                         "go": "1M goroutines on one channel"}),
    Workload("join_latency", "join_latency", "join wake latency",
             ["brigade", "condvar"],
             [Metric("rtt_median_us", "spawn+join round trip, median µs"),
              Metric("wake_median_us", "wake after a 50 µs task, median µs"),
              Metric("sleep_wake_median_us", "wake after a 1 ms task (joiner asleep), median µs")],
             iters=3),
    # The mutex rows use fixed thread counts, whatever --threads says (issue 4: two threads; the
    # task hand-off on 1, then 2 workers). The std::mutex reference hand-off is always 2 threads.
    Workload("mutex_contended", "mutex_contended", "contended mutex, 2 threads",
             ["brigade", "std-mutex"],
             [Metric("ns_per_increment", "ns per increment"),
              # Shows that the threads contended (near 0: they ran one at a time).
              Metric("owner_changes_per_1000", "lock passes between the threads per 1000 increments",
                     diagnostic=True)],
             iters=4, args=["--threads", "2"],
             impl_notes={"brigade": "brigade::mutex, lock_guard", "std-mutex": "lock_guard"}),
    Workload("mutex_uncontended", "mutex_uncontended", "uncontended mutex, one thread",
             ["brigade", "std-mutex"], [Metric("ns_per_lock", "ns per lock and unlock")],
             iters=4, args=["--threads", "1"],
             impl_notes={"brigade": "brigade::mutex, lock_guard", "std-mutex": "lock_guard"}),
    Workload("mutex_uncontended_task", "mutex_uncontended_task", "uncontended mutex, one task",
             ["brigade"], [Metric("ns_per_lock", "ns per lock and unlock")],
             iters=4, args=["--threads", "1"],
             impl_notes={"brigade": "co_await lock_async(), 1 worker"}),
    # Issue 15: how long a thread waits for a mutex that another thread keeps re-taking.
    Workload("mutex_hog", "mutex_hog", "a thread waiting behind a hog (200 µs holds, re-locked at once)",
             ["brigade", "std-mutex"],
             [Metric("wait_median_us", "waiter's median wait µs"), Metric("wait_p99_us", "waiter's p99 wait µs"),
              Metric("wait_max_us", "waiter's worst wait µs")],
             iters=2, args=["--threads", "2"],
             impl_notes={"brigade": "lock_guard on both threads", "std-mutex": "lock_guard on both threads"}),
    Workload("mutex_handoff_1", "mutex_handoff", "mutex hand-off between 2 tasks, 1 worker",
             ["brigade", "std-mutex"], [Metric("ns_per_handoff", "ns per hand-off")],
             iters=4, args=["--threads", "1"], impl_args={"std-mutex": ["--threads", "2"]},
             impl_notes={"brigade": "co_await lock_async()",
                         "std-mutex": "2 threads passing it by turns, std::condition_variable"}),
    Workload("mutex_handoff_2", "mutex_handoff", "mutex hand-off between 2 tasks, 2 workers",
             ["brigade", "std-mutex"], [Metric("ns_per_handoff", "ns per hand-off")],
             iters=4, args=["--threads", "2"], impl_args={"std-mutex": ["--threads", "2"]},
             impl_notes={"brigade": "co_await lock_async()",
                         "std-mutex": "2 threads passing it by turns, std::condition_variable"}),
    # Channels (issue 4). Fixed thread counts, whatever --threads says.
    Workload("chan_pingpong_1", "chan_pingpong", "unbuffered ping-pong, 1 thread",
             ["brigade", "go", "fiber-channel"], [Metric("ns_per_round_trip", "ns per round trip")],
             iters=4, args=["--threads", "1"],
             impl_notes={"brigade": "2 tasks, 1 worker", "go": "GOMAXPROCS=1",
                         "fiber-channel": "2 fibers, one thread"}),
    Workload("chan_pingpong_2", "chan_pingpong", "unbuffered ping-pong, 2 threads",
             ["brigade", "go"], [Metric("ns_per_round_trip", "ns per round trip")],
             iters=4, args=["--threads", "2"],
             impl_notes={"brigade": "2 tasks, 2 workers", "go": "GOMAXPROCS=2"}),
    Workload("chan_pingpong_thread", "chan_pingpong_thread",
             "unbuffered ping-pong, a task and a plain thread",
             ["brigade"], [Metric("ns_per_round_trip", "ns per round trip")],
             iters=3, args=["--threads", "1", "--n", "100000"],
             impl_notes={"brigade": "1 worker; main blocks in send/recv"}),
    Workload("chan_mpmc", "chan_mpmc", "bounded channel (1024), 2 producers 2 consumers, 10M",
             ["brigade", "go", "moodycamel"],
             [Metric("million_msgs_per_s", "M messages/s", lower_is_better=False)],
             iters=3, args=["--threads", "2"],
             impl_notes={"brigade": "4 tasks, 2 workers", "go": "4 goroutines, GOMAXPROCS=2",
                         "moodycamel": "4 threads, spinning consumers"}),
    Workload("hash_map", "hash_map", "hash map, 90% find 10% insert/erase, 2 threads",
             ["brigade", "libcuckoo", "tbb-map"],
             [Metric("million_ops_per_s", "M ops/s", lower_is_better=False)],
             iters=3, args=["--threads", "2"],
             impl_notes={"brigade": "concurrent_hash_map<int, int>", "libcuckoo": "cuckoohash_map<int, int>",
                         "tbb-map": "<int, int>, const_accessor finds"}),
    Workload("hash_map_compute_reads", "hash_map_compute_reads",
             "hash map finds while get_or_compute runs on the same shard (200 µs computations)",
             ["brigade"],
             [Metric("million_finds_per_s", "M finds/s", lower_is_better=False),
              Metric("computations", "computations meanwhile", diagnostic=True)],
             iters=3, args=["--threads", "2"],
             impl_notes={"brigade": "concurrent_hash_map<int, int>, one shard; compare with --baseline"}),
    # Issue 14: from a stop request to the parked task running again.
    Workload("cancel_latency", "cancel_latency", "abort to wake of a task parked in recv",
             ["brigade", "go"],
             [Metric("abort_wake_median_us", "median µs"), Metric("abort_wake_p99_us", "99th percentile µs")],
             iters=3, args=["--threads", "2"],
             impl_notes={"brigade": "a task aborts it, then awaits its handle; it waits in co_await rx.recv_async()",
                         "go": "the main goroutine cancels the context, then waits; the goroutine is in select on a channel and ctx.Done()"}),
    Workload("cancel_latency_thread", "cancel_latency_thread",
             "abort to wake of a task parked in recv, aborted by a plain thread",
             ["brigade"],
             [Metric("abort_wake_median_us", "median µs"), Metric("abort_wake_p99_us", "99th percentile µs")],
             iters=3, args=["--threads", "2"],
             impl_notes={"brigade": "main calls abort() while both workers sleep: includes waking one"}),
    # Issue 17: fibers. brigade's row runs fibers (bench/runtime_fiber.cpp), its peers their
    # own green threads.
    Workload("skynet_fiber", "skynet_fiber", "skynet 1M, fibers",
             ["brigade", "go", "fiber"], [MS], iters=6, max_ms=2500,
             impl_notes={"brigade": "go() + join() at every node", "go": "goroutines + channel",
                         "fiber": "launch::dispatch, join"}),
    Workload("fiber_yield", "fiber_yield", "yield between two fibers, one thread",
             ["brigade", "fiber", "go"], [Metric("ns_per_switch", "ns per switch")],
             iters=4, args=["--threads", "1"],
             impl_notes={"brigade": "this_fiber::yield(), 1 worker", "fiber": "this_fiber::yield(), round_robin",
                         "go": "runtime.Gosched(), GOMAXPROCS=1"}),
    Workload("chan_pingpong_fiber_1", "chan_pingpong_fiber", "unbuffered ping-pong between fibers, 1 thread",
             ["brigade", "go", "fiber-channel"], [Metric("ns_per_round_trip", "ns per round trip")],
             iters=4, args=["--threads", "1"],
             impl_notes={"brigade": "2 fibers, blocking send/recv, 1 worker", "go": "GOMAXPROCS=1",
                         "fiber-channel": "2 fibers, one thread"}),
    Workload("chan_pingpong_fiber_2", "chan_pingpong_fiber", "unbuffered ping-pong between fibers, 2 threads",
             ["brigade", "go"], [Metric("ns_per_round_trip", "ns per round trip")],
             iters=4, args=["--threads", "2"],
             impl_notes={"brigade": "2 fibers, blocking send/recv, 2 workers", "go": "GOMAXPROCS=2"}),
    Workload("memory_fiber", "memory_fiber", "memory per blocked fiber",
             ["brigade", "go", "fiber"], [Metric("bytes_per_task", "bytes/fiber")],
             iters=1, rounds=3, impl_args={"fiber": ["--n", "100000"]},
             impl_notes={"brigade": "1M fibers in recv() on one channel (64 KiB stacks reserved)",
                         "go": "1M goroutines on one channel",
                         "fiber": "100k fibers (16 KiB stacks) on one condition_variable"}),
    # Issue 16: the reactor. The servers: a fresh server process per round, the load from
    # echo_load_client (bench/peers/echo_load_client.cpp), the same for every server.
    Workload("tcp_echo", "tcp_echo",
             "TCP echo, {echo_connections} connections x 64 B, one message in flight each, {echo_s:g} s",
             ["brigade", "brigade_1w", "brigade_uring", "go", "epoll_c"],
             [Metric("round_trips_per_s", "k round trips/s", lower_is_better=False, scale=1e-3),
              Metric("p50_us", "round trip p50 µs"), Metric("p99_us", "round trip p99 µs"),
              Metric("server_cores", "server's CPU, cores", diagnostic=True),
              Metric("client_cores", "load client's CPU, cores", diagnostic=True)],
             iters=1, kind="echo", impl_args={"brigade_1w": ["--threads", "1"]},
             impl_notes={"brigade": "a task per connection, read_some_async / write_all_async, 64 KiB buffer; "
                                    "default backend (epoll)",
                         "brigade_1w": "the same on 1 worker (the C server's one thread)",
                         "brigade_uring": "the same, BRIGADE_IO_BACKEND=io_uring",
                         "go": "net package, a goroutine per connection, 64 KiB buffer",
                         "epoll_c": "edge-triggered, 64 KiB shared buffer"}),
    Workload("idle_connections", "idle_connections", "{idle_connections} idle TCP connections, server RSS",
             ["brigade", "brigade_uring", "go"],
             [Metric("bytes_per_connection", "bytes per connection"),
              Metric("connect_s", "s for the client to open them all", diagnostic=True)],
             iters=1, kind="idle_server",
             impl_notes={"brigade": "a task parked in read_some_async, 64 KiB buffer allocated, untouched; "
                                    "default backend (epoll)",
                         "brigade_uring": "the same, BRIGADE_IO_BACKEND=io_uring",
                         "go": "a goroutine parked in conn.Read, 64 KiB buffer allocated, untouched"}),
    Workload("timers_schedule_cancel", "timers_schedule_cancel",
             "1M timers scheduled then cancelled, batches of 1000, random 1..1000 ms, one thread",
             ["brigade", "brigade_timeout", "asio"],
             [Metric("ops_per_s", "M timers/s", lower_is_better=False, scale=1e-6),
              Metric("ns_per_timer", "ns per timer")],
             iters=4,
             impl_notes={"brigade": "timer_queue park + withdraw; no handler runs",
                         "brigade_timeout": "co_await timeout(ready awaitable, 1s): a timer armed and withdrawn per call",
                         "asio": "expires_after + async_wait, cancel, poll: an aborted handler runs per timer"}),
    Workload("timers_lateness", "timers_lateness", "timer lateness, 100k timers at random 0..1000 ms",
             ["brigade", "brigade_1w", "brigade_busy", "asio"],
             [Metric("p50_us", "lateness p50 µs"), Metric("p99_us", "lateness p99 µs"),
              Metric("max_us", "lateness max µs"),
              Metric("after_arming_p99_us", "lateness p99 µs of the timers due after all were armed"),
              Metric("schedule_ms", "ms to arm them all", diagnostic=True)],
             iters=3, args=["--n", "100000"], impl_args={"brigade_1w": ["--threads", "1"]},
             impl_notes={"brigade": "100k tasks in sleep_until_async, 2 workers",
                         "brigade_1w": "the same on 1 worker",
                         "brigade_busy": "the same, 2 workers, one of them taken by a task computing for the whole second",
                         "asio": "100k steady_timers, one thread"}),
    Workload("timers_lateness_1m", "timers_lateness", "timer lateness, 1M tasks at random 0..1000 ms",
             ["brigade", "brigade_busy", "asio"],
             [Metric("p50_us", "lateness p50 µs"), Metric("p99_us", "lateness p99 µs"),
              Metric("max_us", "lateness max µs"),
              Metric("after_arming_p99_us", "lateness p99 µs of the timers due after all were armed"),
              Metric("after_arming_max_us", "lateness max µs of the timers due after all were armed"),
              Metric("schedule_ms", "ms until the last timer was armed", diagnostic=True),
              Metric("ms", "ms until the last one woke", diagnostic=True)],
             iters=3, args=["--n", "1000000"],
             impl_notes={"brigade": "1M tasks in sleep_until_async, 2 workers",
                         "brigade_busy": "the same, one worker taken by a computing task",
                         "asio": "1M steady_timers, one thread"}),
    # Issue 18: the thread pool and futures (bench/future_workloads.hpp). A pool of 2 threads and
    # one submitting thread, whatever --threads says; std::async has no pool (a thread per job).
    Workload("pool_roundtrip", "pool_roundtrip", "thread pool: submit + get of one tiny job, pool of 2 threads",
             ["brigade", "std-async", "asio-pool", "java"],
             [Metric("ns_per_round_trip", "ns per round trip (mean)"),
              Metric("rtt_median_ns", "ns per round trip (median)")],
             iters=4, args=["--threads", "2"], impl_args={"std-async": ["--n", "5000"]},
             impl_notes={"brigade": "thread_pool(2), submit(fn).get()",
                         "std-async": "std::async(launch::async, fn).get(): a thread per call, 5,000 calls",
                         "asio-pool": "thread_pool(2), post(pool, use_future(fn)).get()",
                         "java": "newFixedThreadPool(2), submit(callable).get()"}),
    Workload("pool_throughput", "pool_throughput", "thread pool: 1M tiny jobs submitted, then every result got, pool of 2 threads",
             ["brigade", "std-async", "asio-pool", "java"],
             [Metric("ns_per_job", "ns per job"),
              Metric("million_jobs_per_s", "M jobs/s", lower_is_better=False),
              Metric("submit_ns_per_job", "of which submitting, ns per job", diagnostic=True)],
             iters=4, args=["--threads", "2"], impl_args={"std-async": ["--n", "20000"]},
             impl_notes={"brigade": "thread_pool(2), 1M submit(fn) into a vector of future, then get() each",
                         "std-async": "std::async(launch::async, fn): a thread per job; 20,000 jobs, not 1M",
                         "asio-pool": "thread_pool(2), 1M post(pool, use_future(fn)), then get() each std::future",
                         "java": "newFixedThreadPool(2), 1M submit(callable), then get() each Future<Long>"}),
    Workload("then_chain", "then_chain", "a chain of 1000 continuations (each adds 1) on one future, 1000 chains",
             ["brigade", "brigade_pool", "asio-pool", "java", "java-async"],
             [Metric("ns_per_continuation", "ns per continuation")],
             iters=4, args=["--threads", "2"],
             impl_notes={"brigade": "then(fn) x 1000 on a promise's future, set_value(0): runs inline on main",
                         "brigade_pool": "then(pool, fn) x 1000: each step a job of thread_pool(2)",
                         "asio-pool": "no futures with then(): each handler posts the next to thread_pool(2); "
                                      "the last sets a std::promise",
                         "java": "thenApply x 1000 on a CompletableFuture, complete(0): runs on main",
                         "java-async": "thenApplyAsync(fn, newFixedThreadPool(2)) x 1000"}),
    Workload("idle", "idle", "idle {idle_s:g} s",
             ["brigade", "tbb", "go", "fiber-suspend", "fiber"],
             [Metric("cpu_ms", "CPU ms")], iters=1, rounds=3, concurrent=True, alone=("fiber",)),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Build


def checkout_definitions(args) -> list[str]:
    """-D options for the peers built from a checkout (--libfork, --toomanycooks): the cache
    variables of bench/CMakeLists.txt. A path without the library is passed all the same: CMake
    then skips that peer with a message."""
    defs = []
    for option, variable, marker in (("libfork", "BRIGADE_LIBFORK_SOURCE", "include/libfork/core.hpp"),
                                     ("toomanycooks", "BRIGADE_TOOMANYCOOKS_SOURCE", "include/tmc/all_headers.hpp")):
        path = getattr(args, option)
        if path is None:
            continue
        path = Path(path).resolve()
        if not (path / marker).is_file():
            log(f"run_benchmarks: --{option} {path}: no {marker} there; that peer will be skipped")
        defs.append(f"-D{variable}={path}")
    return defs


def ensure_built(args) -> Path:
    defs = checkout_definitions(args)
    if args.build_dir:
        build_dir = Path(args.build_dir).resolve()
        if not (build_dir / "CMakeCache.txt").exists():
            sys.exit(f"run_benchmarks: {build_dir} is not a configured CMake build directory")
    else:
        build_dir = REPO / "build" / "release"
        if not (build_dir / "CMakeCache.txt").exists():
            log("configuring: cmake --preset release " + " ".join(defs))
            subprocess.run(["cmake", "--preset", "release"] + defs, cwd=REPO, check=True)
            defs = []
    if defs:  # an existing build: configure it again with the checkouts
        log(f"configuring: cmake {build_dir} " + " ".join(defs))
        subprocess.run(["cmake", str(build_dir)] + defs, cwd=REPO, check=True)
    if not args.no_build:
        cmd = ["cmake", "--build", str(build_dir), "--target", "brigade_bench"]
        if args.jobs:
            cmd += ["-j", str(args.jobs)]
        log("building: " + " ".join(cmd))
        r = subprocess.run(cmd, cwd=REPO)
        if r.returncode != 0:
            log("run_benchmarks: WARNING: the build failed; running the programs that exist")
    return build_dir


def ensure_baseline_built(args, build_dir: Path) -> Path:
    """The build directory of --baseline: used as it is, or made from a git revision."""
    given = Path(args.baseline)
    if (given / "CMakeCache.txt").exists():
        return given.resolve()
    sha = subprocess.run(["git", "rev-parse", "--verify", args.baseline + "^{commit}"], cwd=REPO,
                         capture_output=True, text=True)
    if sha.returncode != 0:
        sys.exit(f"run_benchmarks: --baseline {args.baseline}: neither a configured build directory "
                 "nor a git revision")
    sha = sha.stdout.strip()
    tree = REPO / "build" / "baseline" / sha[:12]
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        log(f"baseline: git worktree add {tree} {sha[:12]}")
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=REPO, check=True)
    base_build = tree / "build" / "bench-of-this-tree"
    if not (base_build / "CMakeCache.txt").exists():
        compiler = "g++"
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_CXX_COMPILER:"):
                compiler = line.split("=", 1)[1]
        subprocess.run(["cmake", "-S", str(REPO / "bench"), "-B", str(base_build), "-G", "Ninja",
                        "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_CXX_COMPILER={compiler}",
                        f"-DBRIGADE_LIBRARY_SOURCE={tree}"], check=True)
    if not args.no_build:
        # -k 0: a program that needs what the older library lacks fails alone, the rest build.
        cmd = ["cmake", "--build", str(base_build), "--target", "brigade_bench", "--", "-k", "0"]
        if args.jobs:
            cmd[3:3] = ["-j", str(args.jobs)]
        log("building the baseline: " + " ".join(cmd))
        if subprocess.run(cmd).returncode != 0:
            log("run_benchmarks: WARNING: some baseline programs did not build; they are left out")
    return base_build


def program_build_info(build_dir: Path, name: str) -> dict | None:
    """What bench/CMakeLists.txt wrote beside a program built from a checkout
    (<program>.build.json: compiler, compiler_version, flags, source, commit), else None."""
    exe = find_program(build_dir, name)
    if exe is None:
        return None
    try:
        return json.loads(exe.with_name(exe.name + ".build.json").read_text())
    except (OSError, ValueError):
        return None


def short_compiler(info: dict) -> str:
    """"g++ 12.2.0" from the compiler's path and the version line it printed."""
    version = re.findall(r"\d+\.\d+(?:\.\d+)?", info.get("compiler_version", ""))
    return Path(info.get("compiler", "?")).name + (f" {version[-1]}" if version else "")


def checkout_builds(build_dir: Path) -> dict[str, dict]:
    """implementation -> build info, for the implementations whose programs were built from a
    checkout (libfork, TooManyCooks)."""
    builds = {}
    for impl, workloads in PROGRAMS.items():
        for program, _ in workloads.values():
            info = program_build_info(build_dir, program)
            if info is not None:
                info["program"] = program
                builds[impl] = info
                break
    return builds


def find_program(build_dir: Path, name: str) -> Path | None:
    for d in (build_dir / "bench", build_dir):
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


# ----------------------------------------------------------------------------------------------
# Running


@dataclass
class RoundResult:
    records: list[dict]
    error: str | None = None  # crash, timeout or failed check


def start_round(exe: Path, w: Workload, impl: str, rnd: int, args) -> subprocess.Popen:
    workload_arg = PROGRAMS[impl][w.program_workload][1]
    cmd = [str(exe), "--workload", workload_arg, "--threads", str(args.threads),
           "--round", str(rnd), "--iters", str(w.iters), "--max-ms", str(w.max_ms),
           "--idle-ms", str(args.idle_ms)]
    cmd += w.args + w.impl_args.get(impl, [])
    if args.cpus:
        cmd = ["taskset", "-c", args.cpus] + cmd
    env = dict(os.environ, GOMAXPROCS=str(args.threads), **IMPL_ENV.get(impl, {}))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish_round(proc: subprocess.Popen, timeout: float) -> RoundResult:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return RoundResult(parse_lines(out), f"timed out after {timeout:.0f} s")
    records = parse_lines(out)
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-1:] if err.strip() else []
        return RoundResult(records, f"exit status {proc.returncode}" + (f": {tail[0]}" if tail else ""))
    if not records:
        return RoundResult(records, "no output")
    bad = [r for r in records if r.get("check") != "ok"]
    if bad:
        return RoundResult(records, f"check failed: {json.dumps(bad[0])}")
    return RoundResult(records)


def parse_lines(out: str) -> list[dict]:
    records = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return records


# ----------------------------------------------------------------------------------------------
# Servers (tcp_echo, idle_connections): each round starts the server, reads its
# {"listening":PORT} line, drives it with echo_load_client, then sends it SIGTERM and expects
# exit status 0 (the protocol in the top comments of bench/peers/*echo* and go_net.go).


class LinePump:
    """A process's stdout, line by line, read by a thread: next_record() waits with a timeout."""

    def __init__(self, stream):
        self.lines: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream):
        try:
            for line in stream:
                self.lines.put(line)
        finally:
            self.lines.put(None)

    def next_record(self, timeout: float) -> dict | None:
        """The next JSON object line, or None at end of stream or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            recs = parse_lines(line)
            if recs:
                return recs[0]


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stderr_tail(f) -> str:
    try:
        f.seek(0)
        lines = [l for l in f.read().strip().splitlines() if l.strip()]
        return lines[-1] if lines else ""
    except (OSError, ValueError):
        return ""


def server_command(exe: Path, w: Workload, impl: str, rnd: int, args) -> tuple[list[str], int]:
    """The server's command line and its thread count (echoed by the client)."""
    mode = PROGRAMS[impl][w.program_workload][1]
    threads = SERVER_THREADS.get(exe.name, args.threads)
    if exe.name == "go_net":
        cmd = [str(exe), "-mode", mode, "-port", "0", "-threads", str(threads), "-round", str(rnd)]
        if w.kind == "idle_server":
            cmd += ["-expect", str(args.idle_connections)]
    elif exe.name == "epoll_echo_server":
        cmd = [str(exe), "--port", "0"]
    else:  # brigade_net, of this tree or of the baseline
        cmd = [str(exe), "--workload", mode, "--port", "0", "--threads", str(threads), "--round", str(rnd)]
        if w.kind == "idle_server":
            cmd += ["--expect", str(args.idle_connections)]
    extra = w.impl_args.get(impl, [])
    cmd += extra
    if "--threads" in extra:  # an implementation row that runs on another worker count
        threads = int(extra[extra.index("--threads") + 1])
    if args.cpus:
        cmd = ["taskset", "-c", args.cpus] + cmd
    return cmd, threads


def run_server_round(exe: Path, client: Path, w: Workload, impl: str, rnd: int, args) -> RoundResult:
    cmd, threads = server_command(exe, w, impl, rnd, args)
    env = dict(os.environ, GOMAXPROCS=str(threads), **IMPL_ENV.get(impl, {}))
    taskset = ["taskset", "-c", args.cpus] if args.cpus else []
    with tempfile.TemporaryFile(mode="w+") as server_err, tempfile.TemporaryFile(mode="w+") as client_err:
        server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=server_err,
                                  text=True, env=env)
        pump = LinePump(server.stdout)
        records: list[dict] = []
        error = None
        try:
            first = pump.next_record(timeout=30)
            if not first or "listening" not in first:
                server.poll()
                return RoundResult([], f"the server printed no listening line (exit status {server.returncode}"
                                       f"{': ' + stderr_tail(server_err) if stderr_tail(server_err) else ''})")
            port = str(first["listening"])
            if w.kind == "echo":
                client_cmd = taskset + [str(client), "--impl", impl, "--threads", str(threads), "--round", str(rnd),
                                        "--port", port, "--seconds", str(args.echo_seconds),
                                        "--connections", str(args.echo_connections)]
                cpu0, t0 = process_cpu_seconds(server.pid), time.monotonic()
                try:
                    c = subprocess.run(client_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=client_err, text=True, timeout=args.echo_seconds + 60)
                except subprocess.TimeoutExpired:
                    return RoundResult([], "the load client timed out")
                wall, cpu1 = time.monotonic() - t0, process_cpu_seconds(server.pid)
                records = parse_lines(c.stdout)
                for rec in records:
                    # The server's CPU over the client's whole run (connect, warm-up, window): a rate.
                    if cpu0 is not None and cpu1 is not None and wall > 0:
                        rec["server_cores"] = (cpu1 - cpu0) / wall
                    if rec.get("ms"):
                        rec["client_cores"] = rec.get("client_cpu_ms", 0) / rec["ms"]
                if c.returncode != 0:
                    error = f"load client exit status {c.returncode}: {stderr_tail(client_err)}"
            else:  # idle_server: hold the connections until the server has measured
                holder = subprocess.Popen(taskset + [str(client), "--hold", str(args.idle_connections),
                                                     "--port", port],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=client_err, text=True)
                h0 = time.monotonic()
                held = LinePump(holder.stdout).next_record(timeout=120)
                hold_s = time.monotonic() - h0
                rec = pump.next_record(timeout=120) if held else None
                try:
                    holder.stdin.close()  # end of file: the client closes its connections and exits
                    holder.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    holder.kill()
                    holder.wait()
                if not held:
                    error = f"the client did not hold the connections: {stderr_tail(client_err)}"
                elif rec is None:
                    error = f"the server printed no measurement: {stderr_tail(server_err)}"
                else:
                    records = [rec]
                    rec.setdefault("threads", threads)
                    # How long the client took to open them all (one blocking connect after the
                    # other): slow when the server's accepts fall behind and its backlog fills.
                    rec["connect_s"] = hold_s
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
                    error = error or "the server did not exit within 15 s of SIGTERM"
            pump.thread.join(timeout=5)
        if error is None and server.returncode != 0:
            error = f"server exit status {server.returncode}: {stderr_tail(server_err)}"
    if error is None and not records:
        error = "no output"
    if error is None:
        bad = [r for r in records if r.get("check") != "ok"]
        if bad:
            error = f"check failed: {json.dumps(bad[0])}"
    return RoundResult(records, error)


def impls_of(w: Workload, args) -> list[str]:
    """The implementations to run for `w`: its own (filtered by --impls), plus the baseline
    build right after brigade when --baseline is given."""
    impls = [i for i in w.impls if not args.impls or i in args.impls]
    if args.baseline and "brigade" in impls and w.program_workload not in BASELINE_SKIPS:
        impls.insert(impls.index("brigade") + 1, "baseline")
    return impls


def run_workload(w: Workload, build_dir: Path, args, raw) -> dict[str, list[RoundResult]]:
    rounds = w.rounds if (w.rounds is not None and not args.rounds_all) else args.rounds
    if args.max_rounds is not None:
        rounds = min(rounds, args.max_rounds)
    impls = impls_of(w, args)
    results: dict[str, list[RoundResult]] = {i: [] for i in impls}
    exes = {}
    for impl in impls:
        where = args.baseline_build if impl == "baseline" else build_dir
        exe = find_program(where, PROGRAMS[impl][w.program_workload][0])
        if exe is None:
            log(f"  {w.name}/{impl}: {PROGRAMS[impl][w.program_workload][0]} not built: skipped")
        exes[impl] = exe
    runnable = [i for i in impls if exes[i] is not None]
    client = None
    if w.kind != "program":
        client = find_program(build_dir, LOAD_CLIENT)
        if client is None:
            log(f"  {w.name}: {LOAD_CLIENT} not built: skipped")
            runnable = []
    for rnd in range(rounds):
        if w.concurrent:
            groups = [[i for i in runnable if i not in w.alone]] + [[i] for i in runnable if i in w.alone]
        else:
            groups = [[i] for i in runnable]
        for group in groups:
            if not group:
                continue
            t0 = time.monotonic()
            if w.kind != "program":  # servers: one at a time, never concurrent
                for impl in group:
                    res = run_server_round(exes[impl], client, w, impl, rnd, args)
                    results[impl].append(res)
                    for rec in res.records:
                        rec["table_row"] = w.name
                        raw.write(json.dumps(rec) + "\n")
                    log(f"  {w.name} round {rnd} {impl}: {res.error or 'ok'} ({time.monotonic() - t0:.1f} s)")
                continue
            procs = {i: start_round(exes[i], w, i, rnd, args) for i in group}
            for impl, proc in procs.items():
                res = finish_round(proc, args.timeout)
                results[impl].append(res)
                for rec in res.records:
                    rec["table_row"] = w.name
                    raw.write(json.dumps(rec) + "\n")
                status = res.error or "ok"
                log(f"  {w.name} round {rnd} {impl}: {status} ({time.monotonic() - t0:.1f} s)")
    return results


# ----------------------------------------------------------------------------------------------
# Statistics and the table


@dataclass
class Summary:
    cold: list[float]
    warm: list[float]
    errors: list[str]
    rounds: int

    def primary(self) -> float | None:
        v = self.warm or self.cold
        return statistics.median(v) if v else None


def summarize(rounds: list[RoundResult], m: Metric) -> Summary:
    cold, warm, errors = [], [], []
    for res in rounds:
        if res.error:
            errors.append(res.error)
            continue
        by_iter = sorted(res.records, key=lambda r: r.get("iter", 0))
        values = [r[m.key] * m.scale for r in by_iter if m.key in r]
        if not values:
            continue
        cold.append(values[0])
        if len(values) > 1:
            warm.append(statistics.median(values[1:]))
    return Summary(cold, warm, errors, len(rounds))


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}"
    if r >= 10:
        return f"{r:.1f}"
    return f"{r:.2f}"


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{fmt(med)}"
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def workload_label(w: Workload, args) -> str:
    return w.label.format(idle_s=args.idle_ms / 1000, echo_s=args.echo_seconds,
                          echo_connections=args.echo_connections,
                          idle_connections=f"{args.idle_connections:,}")


def workload_args_note(w: Workload, impl: str) -> str:
    notes = []
    if w.impl_notes.get(impl):
        notes.append(w.impl_notes[impl])
    return "; ".join(notes)


def render_table(all_results: dict[str, dict[str, list[RoundResult]]], args) -> tuple[str, bool]:
    lines = []
    failed = False
    header = ("| Workload | Implementation | Metric | Cold: median (min–max) | Warm: median (min–max) "
              "| Ratio peer / brigade | Rounds |")
    lines.append(header)
    lines.append("|---|---|---|---|---|---|---|")
    for w in WORKLOADS:
        if w.name not in all_results:
            continue
        results = all_results[w.name]
        wl = workload_label(w, args)
        for m in w.metrics:
            brigade_primary = None
            if "brigade" in results:
                brigade_primary = summarize(results["brigade"], m).primary()
            for impl in impls_of(w, args):
                if impl not in results:
                    continue
                label = IMPL_LABELS.get(impl, impl)
                note = workload_args_note(w, impl)
                if note:
                    label += f" ({note})"
                built = args.checkout_builds.get(impl)
                if built:  # built from a checkout: its compiler and flags in the row
                    label += f" [{short_compiler(built)} {built.get('flags', '')}]"
                better = ("diagnostic, not a score" if m.diagnostic else
                          "lower is better" if m.lower_is_better else "higher is better")
                metric = f"{m.label} ({better})"
                rounds = results[impl]
                if not rounds:
                    lines.append(f"| {wl} | {label} | {metric} | pending (not built) | pending | — | 0 |")
                    continue
                s = summarize(rounds, m)
                if s.errors:
                    failed = True
                if not s.cold:
                    msg = "FAILED: " + s.errors[0] if s.errors else "no data"
                    lines.append(f"| {wl} | {label} | {metric} | {msg} | — | — | {s.rounds} |")
                    continue
                p = s.primary()
                if impl == "brigade":
                    ratio = "1 (reference)"
                elif brigade_primary is None:
                    ratio = "pending (brigade not measured)"
                elif brigade_primary == 0:
                    ratio = "—"
                else:
                    ratio = fmt_ratio(p / brigade_primary)
                err = f" ({len(s.errors)} failed)" if s.errors else ""
                lines.append(f"| {wl} | {label} | {metric} | {cell(s.cold)} | {cell(s.warm)} "
                             f"| {ratio} | {len(s.cold)}{err} |")
    return "\n".join(lines), failed


def pending_brigade_rows(all_results) -> list[str]:
    rows = []
    for w in WORKLOADS:
        res = all_results.get(w.name)
        if res is None or "brigade" not in w.impls:
            continue
        if not res.get("brigade"):
            rows.append(w.name)
    return rows


def build_compiler(build_dir: Path) -> str:
    """The C++ compiler the build directory was configured with (its CMakeCache), else g++."""
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_CXX_COMPILER:"):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "g++"


def build_flags(build_dir: Path) -> str:
    """The compiler and flags of the build directory's own targets: "clang++-16, `-O3 -DNDEBUG -std=c++20`"."""
    cache = {}
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if ":" in line and "=" in line and not line.startswith(("//", "#")):
                key, value = line.split("=", 1)
                cache[key.split(":", 1)[0]] = value.strip()
    except OSError:
        pass
    build_type = cache.get("CMAKE_BUILD_TYPE", "")
    flags = " ".join(f for f in (cache.get("CMAKE_CXX_FLAGS", ""),
                                 cache.get(f"CMAKE_CXX_FLAGS_{build_type.upper()}", "") if build_type else "") if f)
    return f"{Path(cache.get('CMAKE_CXX_COMPILER', 'g++')).name}, `{flags or '(none)'} -std=c++20`"


def machine_info(args, build_dir: Path) -> str:
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    for line in run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    cores = os.cpu_count()
    kernel = platform.release()
    gxx = run([build_compiler(build_dir), "--version"]).splitlines()[:1]
    go = run(["go", "version"])
    try:  # `java -version` writes to stderr
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20).stderr
        java = java.strip().splitlines()[0] if java.strip() else ""
    except (OSError, subprocess.SubprocessError):
        java = ""
    pkgs = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "libtbb-dev",
                "libboost-fiber-dev", "golang-go", "libboost-dev", "libboost1.74-dev"])
    pkgs = ", ".join(p for p in pkgs.splitlines() if p)
    return (f"Machine: {model}, {cores} logical CPUs, Linux {kernel}. "
            f"Compiler: {gxx[0] if gxx else '?'}. {go}. {java + '. ' if java else ''}Packages: {pkgs}. "
            f"Threads: {args.threads}. Date: {datetime.date.today().isoformat()}.")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def write_docs(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN_MARK in text and END_MARK in text:
        before = text.split(BEGIN_MARK)[0]
        after = text.split(END_MARK, 1)[1]
        text = before + BEGIN_MARK + "\n" + block + "\n" + END_MARK + after
    else:
        text = text + ("\n" if text and not text.endswith("\n") else "") + BEGIN_MARK + "\n" + block + "\n" + END_MARK + "\n"
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", help="an already configured build dir (default: build/release, "
                    "configured with `cmake --preset release` if needed)")
    ap.add_argument("--no-build", action="store_true", help="do not run the build first")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="build parallelism")
    ap.add_argument("--rounds", type=int, default=7, help="rounds (processes) per implementation "
                    "(default 7; memory and idle run 3 unless --rounds-all)")
    ap.add_argument("--rounds-all", action="store_true", help="use --rounds for memory and idle too")
    ap.add_argument("--max-rounds", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    ap.add_argument("--idle-ms", type=int, default=5000, help="idle window (default 5000)")
    ap.add_argument("--only", default="", help="comma-separated workloads: " +
                    ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--impls", default="", help="comma-separated implementations: " + ",".join(PROGRAMS))
    ap.add_argument("--timeout", type=float, default=300, help="seconds per process (default 300)")
    ap.add_argument("--raw", default=None, help="where to write every JSON line "
                    "(default: <build-dir>/bench_results.jsonl)")
    ap.add_argument("--write-docs", nargs="?", const=str(DOCS), default=None, metavar="PATH",
                    help="write the table into PATH (default docs/benchmarks.md) between its markers")
    ap.add_argument("--quick", action="store_true", help="3 rounds, 1 s idle window: a smoke run")
    ap.add_argument("--cpus", default=None, metavar="LIST",
                    help="run every program under `taskset -c LIST` (e.g. 1: a one-thread workload "
                    "always on the same vCPU, so that rounds differ less)")
    ap.add_argument("--echo-seconds", type=float, default=10, metavar="S",
                    help="tcp_echo: the load client's measured window per round (default 10; after "
                    "its 1 s warm-up)")
    ap.add_argument("--echo-connections", type=int, default=100, metavar="N",
                    help="tcp_echo: connections, one 64-byte message in flight on each (default 100)")
    ap.add_argument("--idle-connections", type=int, default=10000, metavar="N",
                    help="idle_connections: connections held open (default 10000)")
    ap.add_argument("--baseline", default=None, metavar="REV_OR_DIR",
                    help="also run brigade as built from this git revision (or configured build "
                    "directory), interleaved, as the implementation 'baseline'")
    ap.add_argument("--libfork", default=None, metavar="PATH",
                    help="a libfork checkout (github.com/ConorWilliams/libfork): configures the build "
                    "with -DBRIGADE_LIBFORK_SOURCE=PATH, which builds the peer 'libfork' (skynet, fib, spawn)")
    ap.add_argument("--toomanycooks", default=None, metavar="PATH",
                    help="a TooManyCooks checkout (github.com/tzcnt/TooManyCooks): configures the build "
                    "with -DBRIGADE_TOOMANYCOOKS_SOURCE=PATH, which builds the peer 'tmc' (skynet, fib, spawn)")
    args = ap.parse_args()
    args.only = [s for s in args.only.split(",") if s]
    args.impls = [s for s in args.impls.split(",") if s]
    if args.quick:
        args.rounds = 3
        args.idle_ms = 1000
        args.max_rounds = 3
        args.echo_seconds = min(args.echo_seconds, 2)
    unknown = [o for o in args.only if o not in {w.name for w in WORKLOADS}]
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(unknown)}")

    build_dir = ensure_built(args)
    args.baseline_build = ensure_baseline_built(args, build_dir) if args.baseline else None
    args.checkout_builds = checkout_builds(build_dir)
    raw_path = Path(args.raw) if args.raw else build_dir / "bench_results.jsonl"
    started = time.monotonic()
    load_before = load_average()
    all_results = {}
    with open(raw_path, "w") as raw:
        for w in WORKLOADS:
            if args.only and w.name not in args.only:
                continue
            log(f"{w.name}: {workload_label(w, args)}")
            all_results[w.name] = run_workload(w, build_dir, args, raw)
    elapsed = time.monotonic() - started
    table, failed = render_table(all_results, args)
    info = machine_info(args, build_dir)
    pending = pending_brigade_rows(all_results)
    parts = [f"_{info} Load average (1, 5, 15 min) before: {load_before}, after: {load_average()}. "
             f"Run took {elapsed:.0f} s. Command: `python3 bench/run_benchmarks.py"
             + ("".join(f" {a}" for a in sys.argv[1:])) + "`._", "", table]
    if pending:
        parts += ["", "**brigade: pending** for " + ", ".join(pending) +
                  " (its programs were not built); ratios need a run with brigade built."]
    used = {i for w in all_results.values() for i in w}
    built = [(i, b) for i, b in args.checkout_builds.items() if i in used]
    if built:
        parts += ["", "Built from checkouts (bench/CMakeLists.txt; brigade and the other C++ peers: "
                  f"{build_flags(build_dir)}): " + "; ".join(
                      f"{IMPL_LABELS.get(i, i)}: `{b['program']}` from {b.get('source', '?')} at "
                      f"{b.get('commit', '')[:12] or '?'}, {b.get('compiler_version', '?')}, "
                      f"`{b.get('flags', '')}`" for i, b in built) + "."]
    block = "\n".join(parts)
    print(block)
    if args.write_docs:
        write_docs(Path(args.write_docs), block)
        log(f"wrote {args.write_docs}")
    log(f"raw results: {raw_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
