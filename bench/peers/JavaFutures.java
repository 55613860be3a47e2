// JavaFutures.java: the Java peer of brigade's thread-pool and future benchmarks
// (bench/runtime_future.cpp; the workloads are defined in bench/future_workloads.hpp), on the
// JDK's own classes: Executors.newFixedThreadPool(--threads) (2 in the table) and
// CompletableFuture. Built into a jar by bench/CMakeLists.txt, run through the generated
// script build/.../bench/java_future (`java -cp java_futures.jar JavaFutures "$@"`).
//
//   pool_roundtrip    `pool.submit(() -> value + 1).get()` from main, --n times (default 10,000).
//   pool_throughput   --n `pool.submit(() -> tinyHash(index))` (default 1,000,000) into an
//                     ArrayList of Future<Long> (capacity reserved before the clock starts), then
//                     get() of each in order; the list is cleared inside the timed window.
//   then_chain        per chain: a new CompletableFuture<Long>, 1,000 `thenApply(v -> v + 1)`
//                     attached one on the other, complete(0) from main (which runs the chain,
//                     as brigade's inline then() does), then join() of the last one.
//   then_chain_async  the same with `thenApplyAsync(v -> v + 1, pool)`: every step runs as a
//                     task of the fixed pool (the counterpart of brigade's then(pool, fn)).
//
// Command line and output as bench/bench_util.hpp: --workload, --threads, --round, --iters,
// --max-ms, --n (--idle-ms is accepted and ignored); one JSON line per in-process iteration.
// Iteration 0 is the cold one: it runs in the interpreter while the JIT compiles the hot loops
// (each workload makes tens of thousands of calls per iteration, so the later, warm iterations
// run compiled code). The pool is made once per process, before the first iteration. A failed
// check prints "check":"FAIL" and exits with status 1.
import java.util.ArrayList;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public final class JavaFutures {
  private static final long ROUNDTRIP_DEFAULT_N = 10_000;
  private static final long THROUGHPUT_DEFAULT_N = 1_000_000;
  private static final long CHAIN_DEFAULT_CHAINS = 1_000;
  private static final long CHAIN_LENGTH = 1_000;

  private String workload = "";
  private int threads = 2;
  private int round = 0;
  private int iters = 3;
  private double maxMs = 1e12;
  private long n = 0;

  /** The same function as bench::tiny_hash (bench/future_workloads.hpp), in 64-bit arithmetic. */
  static long tinyHash(long index) {
    long mixed = index * 2654435761L;
    mixed ^= mixed >>> 29;
    mixed *= 0x9E3779B97F4A7C15L;
    return mixed ^ (mixed >>> 32);
  }

  /** One JSON object on one line, as bench::json_line writes it. */
  private final class Line {
    private final StringBuilder text = new StringBuilder();

    Line(int iter) {
      str("impl", implName());
      str("workload", workload);
      num("threads", threads);
      num("round", round);
      num("iter", iter);
    }

    private void key(String name) {
      text.append(text.length() == 0 ? "{" : ",").append('"').append(name).append("\":");
    }

    Line str(String name, String value) {
      key(name);
      text.append('"').append(value).append('"');
      return this;
    }

    Line num(String name, long value) {
      key(name);
      text.append(value);
      return this;
    }

    Line num(String name, double value) {
      key(name);
      text.append(value);
      return this;
    }

    /** Numbers that are meant as unsigned 64-bit values (the throughput sum). */
    Line unsigned(String name, long value) {
      key(name);
      text.append(Long.toUnsignedString(value));
      return this;
    }

    void print() {
      System.out.println(text.append('}'));
      System.out.flush();
    }
  }

  private String implName() {
    return workload.equals("then_chain_async") ? "java-async" : "java";
  }

  /** One iteration: returns whether its check passed. */
  private interface Iteration {
    boolean run(int iter) throws Exception;
  }

  /** bench::run_iterations: up to `iters` iterations, at least 2, stopping past maxMs. */
  private int runIterations(Iteration body) throws Exception {
    final long start = System.nanoTime();
    for (int i = 0; i < iters; ++i) {
      if (i >= 2 && (System.nanoTime() - start) / 1e6 > maxMs) break;
      if (!body.run(i)) return 1;
    }
    return 0;
  }

  private static double percentile(double[] samples, double p) {
    double[] sorted = samples.clone();
    Arrays.sort(sorted);
    int index = (int) (p * (sorted.length - 1) + 0.5);
    return sorted[Math.min(index, sorted.length - 1)];
  }

  private int roundtrip(ExecutorService pool) throws Exception {
    final long count = n > 0 ? n : ROUNDTRIP_DEFAULT_N;
    final double[] samples = new double[(int) count];
    return runIterations(iter -> {
      boolean allRight = true;
      final long t0 = System.nanoTime();
      for (long i = 0; i < count; ++i) {
        final long value = i;
        final long start = System.nanoTime();
        final long result = pool.submit(() -> value + 1).get();
        samples[(int) i] = System.nanoTime() - start;
        allRight = allRight && result == value + 1;
      }
      final double ms = (System.nanoTime() - t0) / 1e6;
      new Line(iter).num("ms", ms).num("ns_per_round_trip", ms * 1e6 / count)
          .num("rtt_median_ns", percentile(samples, 0.5)).num("rtt_p99_ns", percentile(samples, 0.99))
          .num("round_trips", count).str("check", allRight ? "ok" : "FAIL").print();
      return allRight;
    });
  }

  private int throughput(ExecutorService pool) throws Exception {
    final long count = n > 0 ? n : THROUGHPUT_DEFAULT_N;
    long expectedSum = 0;
    for (long index = 0; index < count; ++index) expectedSum += tinyHash(index);
    final long expected = expectedSum;
    final ArrayList<Future<Long>> futures = new ArrayList<>((int) count);
    return runIterations(iter -> {
      final long t0 = System.nanoTime();
      for (long index = 0; index < count; ++index) {
        final long job = index;
        futures.add(pool.submit(() -> tinyHash(job)));
      }
      final double submitMs = (System.nanoTime() - t0) / 1e6;
      long sum = 0;
      for (Future<Long> future : futures) sum += future.get();
      futures.clear();
      final double ms = (System.nanoTime() - t0) / 1e6;
      final boolean ok = sum == expected;
      new Line(iter).num("ms", ms).num("ns_per_job", ms * 1e6 / count)
          .num("million_jobs_per_s", count / ms / 1e3).num("submit_ns_per_job", submitMs * 1e6 / count)
          .num("jobs", count).str("check", ok ? "ok" : "FAIL").unsigned("answer", sum).print();
      return ok;
    });
  }

  private int thenChain(ExecutorService pool) throws Exception {
    final long chains = n > 0 ? n : CHAIN_DEFAULT_CHAINS;
    final boolean onPool = pool != null;
    return runIterations(iter -> {
      boolean allRight = true;
      long last = 0;
      final long t0 = System.nanoTime();
      for (long chain = 0; chain < chains; ++chain) {
        final CompletableFuture<Long> first = new CompletableFuture<>();
        CompletableFuture<Long> tail = first;
        for (long link = 0; link < CHAIN_LENGTH; ++link)
          tail = onPool ? tail.thenApplyAsync(v -> v + 1, pool) : tail.thenApply(v -> v + 1);
        first.complete(0L);
        last = tail.join();
        allRight = allRight && last == CHAIN_LENGTH;
      }
      final double ms = (System.nanoTime() - t0) / 1e6;
      final long continuations = chains * CHAIN_LENGTH;
      new Line(iter).num("ms", ms)
          .num("ns_per_continuation", ms * 1e6 / continuations).num("continuations", continuations)
          .num("chains", chains).str("check", allRight ? "ok" : "FAIL").num("answer", last).print();
      return allRight;
    });
  }

  private static void usageError(String what) {
    System.err.println("JavaFutures: " + what);
    System.exit(2);
  }

  private void parse(String[] args) {
    for (int i = 0; i < args.length; ++i) {
      if (i + 1 >= args.length) usageError("missing value after " + args[i]);
      final String value = args[++i];
      switch (args[i - 1]) {
        case "--workload" -> workload = value;
        case "--threads" -> threads = Integer.parseInt(value);
        case "--round" -> round = Integer.parseInt(value);
        case "--iters" -> iters = Math.max(1, Integer.parseInt(value));
        case "--max-ms" -> maxMs = Double.parseDouble(value);
        case "--n" -> n = Long.parseLong(value);
        case "--idle-ms" -> { }
        default -> usageError("unknown flag " + args[i - 1] + " (see bench/bench_util.hpp)");
      }
    }
    if (workload.isEmpty()) usageError("--workload is required");
    if (threads < 1) usageError("--threads must be at least 1");
  }

  private int run() throws Exception {
    final ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      switch (workload) {
        case "pool_roundtrip": return roundtrip(pool);
        case "pool_throughput": return throughput(pool);
        case "then_chain": return thenChain(null);
        case "then_chain_async": return thenChain(pool);
        default:
          usageError("workload must be pool_roundtrip, pool_throughput, then_chain or then_chain_async");
          return 2;
      }
    } finally {
      pool.shutdown();
      pool.awaitTermination(1, TimeUnit.MINUTES);
    }
  }

  public static void main(String[] args) throws Exception {
    final JavaFutures program = new JavaFutures();
    program.parse(args);
    System.exit(program.run());
  }
}
