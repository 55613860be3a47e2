// go_net.go: the Go (net package) peer of brigade's TCP benchmarks. Built with a plain
// `go build go_net.go` (standard library only, no module; bench/CMakeLists.txt does it, target
// go_net_peer). It does not depend on brigade.
//
//	go_net -mode echo [-port 0] [-host 127.0.0.1] [-threads 2]
//	    tcp_echo's server: one goroutine per connection, a read/write loop with a 64 KiB
//	    buffer (-bufsize), the idiomatic Go echo server (Go's netpoller parks the goroutine in
//	    Read). Prints {"listening":PORT} once listening, runs until SIGTERM/SIGINT, exits 0.
//	    The load comes from bench/peers/echo_load_client.cpp, the same for every server.
//
//	go_net -mode idle [-port 0] [-expect N] [-threads 2] [-round R]
//	    idle_connections: the same server (same handler, same buffer), each accepted
//	    connection held by its goroutine blocked in conn.Read. Prints {"listening":PORT}; when
//	    the line "measure" arrives on stdin, or once -expect N connections have been accepted
//	    (and their goroutines have reached Read), whichever comes first (once), prints
//	      {"impl":"go","workload":"idle_connections","threads":2,"round":0,"iter":0,
//	       "connections":N,"rss_before":..,"rss_bytes":..,"bytes_per_connection":..,
//	       "buffer_bytes":65536,"check":"ok"}
//	    with bytes_per_connection = (RSS now - RSS before the first accept) / N (RSS from
//	    /proc/self/statm), then keeps the connections until SIGTERM/SIGINT, exits 0. check is
//	    FAIL when no connection was accepted, or fewer than -expect. The per-connection buffer
//	    is allocated but not written until data arrives: Go takes buffers of 64 KiB straight
//	    from the OS, zeroed, so an idle one costs address space rather than RSS.
//
// GOMAXPROCS = -threads (default 2). RLIMIT_NOFILE's soft limit is raised to the hard one (Go
// 1.19 and later do it themselves; done here too for older ones).
//
// How bench/run_benchmarks.py runs it: start the server, wait for its {"listening":PORT} line,
// run the client (echo_load_client --port PORT ..., or echo_load_client --hold 10000 --port PORT
// against `-mode idle -expect 10000`, then read the server's idle_connections line), then send
// the server SIGTERM.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	mode    = flag.String("mode", "", "echo or idle")
	host    = flag.String("host", "127.0.0.1", "address to listen on")
	port    = flag.Int("port", 0, "port to listen on (0: any)")
	threads = flag.Int("threads", 2, "GOMAXPROCS")
	round   = flag.Int("round", 0, "round number, echoed (idle mode)")
	expect  = flag.Int64("expect", 0, "idle mode: measure once this many connections are accepted (0: on the stdin line \"measure\")")
	bufSize = flag.Int("bufsize", 64*1024, "per-connection read buffer in bytes")
)

var (
	accepted int64 // connections accepted
	reading  int64 // goroutines that have reached their first Read
)

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "go_net: %s\n", msg)
	flag.Usage()
	os.Exit(2)
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

// serve is every connection's goroutine: read, write back what was read, until the peer closes
// or an error.
func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, *bufSize)
	atomic.AddInt64(&reading, 1)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			if strings.Contains(err.Error(), "use of closed network connection") {
				return
			}
			// EMFILE and the like: report, back off a little, go on.
			fmt.Fprintf(os.Stderr, "go_net: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		atomic.AddInt64(&accepted, 1)
		go serve(c)
	}
}

func measureIdle(rssBefore int64) {
	// Let every accepted connection's goroutine reach Read and park.
	for i := 0; i < 1000 && atomic.LoadInt64(&reading) < atomic.LoadInt64(&accepted); i++ {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	n := atomic.LoadInt64(&accepted)
	rss := rssBytes()
	perConn := 0.0
	if n > 0 {
		perConn = float64(rss-rssBefore) / float64(n)
	}
	ok := n > 0 && (*expect == 0 || n >= *expect)
	check := "ok"
	if !ok {
		check = "FAIL"
	}
	fmt.Printf(`{"impl":"go","workload":"idle_connections","threads":%d,"round":%d,"iter":0,`+
		`"connections":%d,"rss_before":%d,"rss_bytes":%d,"bytes_per_connection":%.6g,`+
		`"buffer_bytes":%d,"check":%q}`+"\n",
		*threads, *round, n, rssBefore, rss, perConn, *bufSize, check)
	if !ok {
		os.Exit(1)
	}
}

func main() {
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected argument " + strconv.Quote(flag.Arg(0)))
	}
	if *mode != "echo" && *mode != "idle" {
		usage("-mode must be echo or idle")
	}
	if *port < 0 || *port > 65535 {
		usage("-port must be in 0..65535")
	}
	if *threads < 1 {
		usage("-threads must be at least 1")
	}
	if *bufSize < 1 {
		usage("-bufsize must be at least 1")
	}
	if *expect < 0 {
		usage("-expect must not be negative")
	}
	runtime.GOMAXPROCS(*threads)
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_net: listen: %v\n", err)
		os.Exit(1)
	}
	runtime.GC()
	rssBefore := rssBytes()
	fmt.Printf("{\"listening\":%d}\n", ln.Addr().(*net.TCPAddr).Port)

	if *mode == "idle" {
		measured := make(chan struct{}, 1)
		trigger := func() {
			select {
			case measured <- struct{}{}:
				measureIdle(rssBefore)
			default: // measured already
			}
		}
		if *expect > 0 {
			go func() {
				for atomic.LoadInt64(&accepted) < *expect {
					time.Sleep(5 * time.Millisecond)
				}
				trigger()
			}()
		}
		go func() {
			in := bufio.NewScanner(os.Stdin)
			for in.Scan() {
				if strings.TrimSpace(in.Text()) == "measure" {
					trigger()
				}
			}
		}()
	}

	go acceptLoop(ln)
	<-sigs
	ln.Close()
	os.Exit(0)
}
