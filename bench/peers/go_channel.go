// go_channel.go: the Go peer of brigade's channel benchmarks (bench/channel_workloads.hpp), with
// the same flags and JSON lines. Built with a plain `go build go_channel.go`. GOMAXPROCS =
// --threads.
//
//	chan_pingpong  two goroutines over two unbuffered channels; --n round trips (1,000,000).
//	chan_mpmc      2 producer and 2 consumer goroutines, one channel of capacity 1024,
//	               --n messages in all (10,000,000).
//	cancel_latency a goroutine parks in select on a channel nobody sends on and ctx.Done();
//	               200 µs later main cancels the context; the sample is the time from cancel()
//	               to the goroutine running again. --n samples (2,000); median and p99 in µs
//	               (bench/runtime_cancel.cpp is brigade's side).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

var (
	workload = flag.String("workload", "", "chan_pingpong or chan_mpmc")
	threads  = flag.Int("threads", 2, "GOMAXPROCS")
	round    = flag.Int("round", 0, "round number, echoed")
	iters    = flag.Int("iters", 3, "in-process iterations (the first is cold)")
	maxMs    = flag.Float64("max-ms", 1e12, "stop iterating after this many ms (after 2 iterations)")
	nFlag    = flag.Int64("n", 0, "problem size (0: the workload's default)")
	_        = flag.Int64("idle-ms", 0, "unused")
)

func emit(iter int, ms float64, fields string, ok bool) {
	check := "ok"
	if !ok {
		check = "FAIL"
	}
	fmt.Printf(`{"impl":"go","workload":%q,"threads":%d,"round":%d,"iter":%d,"ms":%.6g%s,"check":%q}`+"\n",
		*workload, *threads, *round, iter, ms, fields, check)
}

func pingpong(n int64) int64 {
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	var counter int64
	for i := int64(0); i < n; i++ {
		ping <- counter + 1
		counter = <-pong
	}
	close(ping)
	<-pong
	return counter
}

func percentile(v []float64, p float64) float64 {
	sort.Float64s(v)
	i := int(p * float64(len(v)-1))
	return v[i]
}

// cancelLatency returns the median and the 99th percentile, in µs.
func cancelLatency(n int64) (float64, float64) {
	never := make(chan int)
	samples := make([]float64, 0, n)
	for i := int64(0); i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		parked := make(chan struct{})
		woke := make(chan time.Time, 1)
		go func() {
			close(parked)
			select {
			case <-never:
			case <-ctx.Done():
				woke <- time.Now()
			}
		}()
		<-parked
		time.Sleep(200 * time.Microsecond) // parked in the select; its thread idle
		start := time.Now()
		cancel()
		samples = append(samples, float64((<-woke).Sub(start).Nanoseconds())/1e3)
	}
	return percentile(samples, 0.5), percentile(samples, 0.99)
}

func mpmc(n int64) uint64 {
	ch := make(chan uint64, 1024)
	var producers sync.WaitGroup
	for p := 0; p < 2; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := int64(0); i < n/2; i++ {
				ch <- uint64(i)
			}
		}()
	}
	sums := make(chan uint64, 2)
	for c := 0; c < 2; c++ {
		go func() {
			var sum uint64
			for v := range ch {
				sum += v
			}
			sums <- sum
		}()
	}
	producers.Wait()
	close(ch)
	return <-sums + <-sums
}

func main() {
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	start := time.Now()
	for iter := 0; iter < *iters; iter++ {
		if iter >= 2 && float64(time.Since(start).Milliseconds()) > *maxMs {
			break
		}
		switch *workload {
		case "chan_pingpong":
			n := *nFlag
			if n == 0 {
				n = 1000000
			}
			t0 := time.Now()
			counter := pingpong(n)
			ms := float64(time.Since(t0).Nanoseconds()) / 1e6
			emit(iter, ms, fmt.Sprintf(`,"ns_per_round_trip":%.6g,"round_trips":%d`, ms*1e6/float64(n), n), counter == 2*n)
		case "chan_mpmc":
			n := *nFlag
			if n == 0 {
				n = 10000000
			}
			t0 := time.Now()
			sum := mpmc(n)
			ms := float64(time.Since(t0).Nanoseconds()) / 1e6
			half := uint64(n / 2)
			emit(iter, ms, fmt.Sprintf(`,"million_msgs_per_s":%.6g,"messages":%d,"capacity":1024`, float64(n)/ms/1e3, n), sum == 2*(half*(half-1)/2))
		case "cancel_latency":
			n := *nFlag
			if n == 0 {
				n = 2000
			}
			t0 := time.Now()
			median, p99 := cancelLatency(n)
			ms := float64(time.Since(t0).Nanoseconds()) / 1e6
			emit(iter, ms, fmt.Sprintf(`,"abort_wake_median_us":%.6g,"abort_wake_p99_us":%.6g,"samples":%d`, median, p99, n), true)
		default:
			fmt.Fprintln(os.Stderr, "go_channel: workload must be chan_pingpong, chan_mpmc or cancel_latency")
			os.Exit(2)
		}
	}
}
