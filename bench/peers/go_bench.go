// go_bench.go: the Go (goroutine) peer of brigade's benchmarks. Built with a plain
// `go build go_bench.go` (standard library only, no module). GOMAXPROCS = --threads.
//
// Workloads (same flags and JSON lines as bench/bench_util.hpp):
//
//	skynet  the classic skynet: every goroutine starts 10 children that send their sums on an
//	        unbuffered channel; 1,111,111 goroutines; answer 499999500000.
//	fib     fib(n) (default 32) with a goroutine at every call: go fib(n-1) joined by a
//	        sync.WaitGroup, fib(n-2) inline. No serial cutoff. Answer fib(n).
//	spawn   1,000,000 `go func() { wg.Done() }()` then wg.Wait().
//	memory  1,000,000 goroutines blocked on one channel: RSS growth / goroutine.
//	idle    after a short parallel job, the process idles for --idle-ms: CPU time used.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	workload = flag.String("workload", "", "skynet, fib, spawn, yield, memory or idle")
	threads  = flag.Int("threads", 2, "GOMAXPROCS")
	round    = flag.Int("round", 0, "round number, echoed")
	iters    = flag.Int("iters", 3, "in-process iterations (the first is cold)")
	maxMs    = flag.Float64("max-ms", 1e12, "stop iterating after this many ms (after 2 iterations)")
	nFlag    = flag.Int64("n", 0, "problem size (0: the workload's default)")
	idleMs   = flag.Int64("idle-ms", 5000, "idle window of the idle workload")
)

const (
	skynetSize   = 1000000
	skynetAnswer = 499999500000
	skynetTasks  = 1111111
)

// line builds one JSON object, in the field order of bench_util.hpp's json_line.
type line struct{ b strings.Builder }

func newLine(iter int) *line {
	l := &line{}
	l.b.WriteString(fmt.Sprintf(`{"impl":"go","workload":%q,"threads":%d,"round":%d,"iter":%d`,
		*workload, *threads, *round, iter))
	return l
}
func (l *line) num(k string, v float64) *line {
	l.b.WriteString(fmt.Sprintf(`,%q:%.6g`, k, v))
	return l
}
func (l *line) int(k string, v int64) *line {
	l.b.WriteString(fmt.Sprintf(`,%q:%d`, k, v))
	return l
}
func (l *line) str(k, v string) *line {
	l.b.WriteString(fmt.Sprintf(`,%q:%q`, k, v))
	return l
}
func (l *line) print() {
	l.b.WriteString("}\n")
	os.Stdout.WriteString(l.b.String())
}

func check(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func msSince(t0 time.Time) float64 { return float64(time.Since(t0).Nanoseconds()) / 1e6 }

// runIterations mirrors bench::run_iterations: at least 2 iterations, then stop after maxMs.
func runIterations(body func(iter int) bool) {
	t0 := time.Now()
	for i := 0; i < *iters; i++ {
		if i >= 2 && msSince(t0) > *maxMs {
			break
		}
		if !body(i) {
			os.Exit(1)
		}
	}
}

func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	sum := 0
	for i := 0; i < div; i++ {
		go skynet(rc, num+i*(size/div), size/div, div)
	}
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func fib(n int) uint64 {
	if n < 2 {
		return uint64(n)
	}
	var a uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b := fib(n - 2)
	wg.Wait()
	return a + b
}

func fibAnswer(n int) uint64 {
	a, b := uint64(0), uint64(1)
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(data), &size, &resident)
	return resident * int64(os.Getpagesize())
}

type cpuUsage struct {
	userMs, sysMs float64
	switches      int64
}

func processCPU() cpuUsage {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	ms := func(tv syscall.Timeval) float64 { return float64(tv.Sec)*1e3 + float64(tv.Usec)/1e3 }
	return cpuUsage{ms(u.Utime), ms(u.Stime), u.Nvcsw + u.Nivcsw}
}

func main() {
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	switch *workload {
	case "skynet":
		runIterations(func(iter int) bool {
			t0 := time.Now()
			c := make(chan int)
			go skynet(c, 0, skynetSize, 10)
			sum := <-c
			ms := msSince(t0)
			ok := sum == skynetAnswer
			newLine(iter).num("ms", ms).int("tasks", skynetTasks).str("check", check(ok)).
				int("answer", int64(sum)).print()
			return ok
		})
	case "fib":
		n := 32
		if *nFlag > 0 {
			n = int(*nFlag)
		}
		runIterations(func(iter int) bool {
			t0 := time.Now()
			v := fib(n)
			ms := msSince(t0)
			ok := v == fibAnswer(n)
			newLine(iter).num("ms", ms).int("n", int64(n)).int("tasks", int64(2*fibAnswer(n+1)-1)).
				str("check", check(ok)).int("answer", int64(v)).print()
			return ok
		})
	case "spawn":
		n := int64(1000000)
		if *nFlag > 0 {
			n = *nFlag
		}
		runIterations(func(iter int) bool {
			t0 := time.Now()
			var wg sync.WaitGroup
			wg.Add(int(n))
			for i := int64(0); i < n; i++ {
				go func() { wg.Done() }()
			}
			wg.Wait()
			ms := msSince(t0)
			newLine(iter).num("ms", ms).int("tasks", n).
				num("tasks_per_s", float64(n)/(ms/1e3)).str("check", "ok").print()
			return true
		})
	case "yield":
		// Two goroutines calling runtime.Gosched() n times each (GOMAXPROCS=1: they take turns).
		n := int64(1000000)
		if *nFlag > 0 {
			n = *nFlag
		}
		runIterations(func(iter int) bool {
			t0 := time.Now()
			var wg sync.WaitGroup
			wg.Add(2)
			for g := 0; g < 2; g++ {
				go func() {
					for i := int64(0); i < n; i++ {
						runtime.Gosched()
					}
					wg.Done()
				}()
			}
			wg.Wait()
			ms := msSince(t0)
			newLine(iter).num("ms", ms).num("ns_per_switch", ms*1e6/float64(2*n)).int("switches", 2*n).
				str("check", "ok").print()
			return true
		})
	case "memory":
		n := int64(1000000)
		if *nFlag > 0 {
			n = *nFlag
		}
		runtime.GC()
		before := rssBytes()
		ch := make(chan struct{})
		var started, finished int64
		t0 := time.Now()
		for i := int64(0); i < n; i++ {
			go func() {
				atomic.AddInt64(&started, 1)
				<-ch
				atomic.AddInt64(&finished, 1)
			}()
		}
		for atomic.LoadInt64(&started) < n {
			time.Sleep(time.Millisecond)
		}
		spawnMs := msSince(t0)
		time.Sleep(50 * time.Millisecond) // let the last ones reach the channel
		after := rssBytes()
		t1 := time.Now()
		close(ch)
		for atomic.LoadInt64(&finished) < n {
			time.Sleep(100 * time.Microsecond)
		}
		wakeMs := msSince(t1)
		newLine(0).num("ms", spawnMs).num("wake_ms", wakeMs).int("tasks", n).
			int("rss_before", before).int("rss_after", after).
			num("bytes_per_task", float64(after-before)/float64(n)).
			str("check", check(atomic.LoadInt64(&finished) == n)).print()
	case "idle":
		warm := fib(20)
		before := processCPU()
		time.Sleep(time.Duration(*idleMs) * time.Millisecond)
		after := processCPU()
		newLine(0).num("cpu_ms", (after.userMs+after.sysMs)-(before.userMs+before.sysMs)).
			num("user_ms", after.userMs-before.userMs).num("sys_ms", after.sysMs-before.sysMs).
			int("idle_ms", *idleMs).int("context_switches", after.switches-before.switches).
			str("check", check(warm == fibAnswer(20))).print()
	default:
		fmt.Fprintln(os.Stderr, "go_bench: --workload must be skynet, fib, spawn, yield, memory or idle")
		os.Exit(2)
	}
}
