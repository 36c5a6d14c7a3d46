package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

const (
	maxDuration = 120 * time.Second
	maxCount    = 50_000_000
)

func main() {
	var (
		serve        = flag.String("serve", "", "run the test server on this loopback host:port instead of loading one")
		restrictLine = flag.String("restrict", "", `with -serve: one restrict rule for every source, e.g. "default kod limited"`)
		workers      = flag.Int("workers", 0, "with -serve: sockets per address (0: GOMAXPROCS)")
		txBudget     = flag.Duration("tx-budget", 0, "with -serve: ntpserve.Config.TxBudget, the predicted send time one sendmmsg may span (0: the default)")
		busyNice     = flag.Int("busy-nice", 0, "with -serve: ntpserve.Config.BusyNice, the nice value of a busy worker's thread (0: the default, 19: leave it)")
		addr         = flag.String("addr", "", "server to load, loopback host:port")
		duration     = flag.Duration("duration", 5*time.Second, "how long to run (at most 2 min)")
		rate         = flag.Int("rate", 0, "requests per second; 0: as fast as the server answers (capacity)")
		sources      = flag.Int("sources", 8, "client sockets, each on its own 127.0.0.x source address")
		window       = flag.Int("window", 32, "capacity mode: requests in flight per socket")
		count        = flag.Int("count", 0, "stop after this many requests (0: duration only)")
		pid          = flag.Int("pid", 0, "server PID, to report its CPU time per reply")
		probeN       = flag.Int("probe", 0, "instead of loading, send this many single queries and report the served-time error (p50/p99)")
		probeEvery   = flag.Duration("probe-every", 40*time.Millisecond, "with -probe: interval between queries")
	)
	flag.Parse()
	if *duration <= 0 || *duration > maxDuration {
		fatalf("-duration must be in (0, %v]", maxDuration)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *serve != "" {
		if err := runServer(ctx, *serve, *restrictLine,
			ntpserve.Config{Workers: *workers, TxBudget: *txBudget, BusyNice: *busyNice}, *duration); err != nil {
			fatalf("%v", err)
		}
		return
	}
	ap, err := loopback(*addr)
	if err != nil {
		fatalf("%v", err)
	}
	if *probeN > 0 {
		if *probeN > 10000 || *probeEvery < time.Millisecond {
			fatalf("-probe must be at most 10000 and -probe-every at least 1ms")
		}
		pr, err := probe(ap, *probeN, *probeEvery)
		if err != nil {
			fatalf("%v", err)
		}
		fmt.Print(pr)
		return
	}
	if *count < 0 || *count > maxCount {
		fatalf("-count must be in [0, %d]", maxCount)
	}
	if *sources < 1 || *sources > 1000 || *window < 1 || *window > 1024 {
		fatalf("-sources must be 1..1000 and -window 1..1024")
	}
	r, err := load(ctx, ap, loadConfig{
		duration: *duration, rate: *rate, sources: *sources, window: *window, count: *count, pid: *pid,
	})
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Print(r)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ntpload: "+format+"\n", args...)
	os.Exit(1)
}

func loopback(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("address %q: want a loopback ip:port such as 127.0.0.1:12300", s)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return ap, fmt.Errorf("address %s: refusing a non-loopback target", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// hostClock serves the host clock as it is: the harness measures the
// server, not a discipline.
type hostClock struct{}

func (hostClock) Now() int64         { return time.Now().UnixNano() }
func (hostClock) Map(rt int64) int64 { return rt }

// runServer serves on listen for d with cfg's Workers, TxBudget and
// BusyNice.
func runServer(ctx context.Context, listen, restrictLine string, cfg ntpserve.Config, d time.Duration) error {
	ap, err := loopback(listen)
	if err != nil {
		return err
	}
	var table *restrict.Table
	if restrictLine != "" {
		r, err := restrict.ParseRestrict(strings.Fields(restrictLine))
		if err != nil {
			return fmt.Errorf("-restrict: %w", err)
		}
		table = restrict.NewTable([]restrict.Rule{r})
	}
	ref := &atomic.Pointer[discipline.Reference]{}
	now := time.Now().UnixNano()
	ref.Store(&discipline.Reference{
		State: discipline.PPS, Synchronised: true, Stratum: 1, RefID: [4]byte{'P', 'P', 'S', 0},
		RefTimeNs: now, RootDispersionNs: 1000, DispersionRateNsPerS: 15000, Precision: -20,
	})
	cfg.Listen, cfg.Clock, cfg.Ref, cfg.Restrict = []string{ap.String()}, hostClock{}, ref, table
	s, err := ntpserve.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("serving on %v pid %d for %v\n", s.Addrs(), os.Getpid(), d)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err = s.Serve(ctx)
	st := s.Stats()
	fmt.Printf("received %d", st.Received)
	for o, n := range st.Outcomes {
		if n > 0 {
			fmt.Printf(", %v %d", ntpserve.Outcome(o), n)
		}
	}
	fmt.Printf(", send errors %d, receive errors %d, interleaved %d\n", st.SendErrors, st.RecvErrors, st.Interleaved)
	return err
}

type loadConfig struct {
	duration time.Duration
	rate     int
	sources  int
	window   int
	count    int
	pid      int
}

type result struct {
	mode      string
	elapsed   time.Duration
	sent      int64
	replies   int64
	kod       int64
	unsync    int64
	lost      int64
	latencies []time.Duration
	cpu       time.Duration
	pid       int
}

func (r *result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode            %s\n", r.mode)
	fmt.Fprintf(&b, "elapsed         %.2f s\n", r.elapsed.Seconds())
	fmt.Fprintf(&b, "sent            %d\n", r.sent)
	fmt.Fprintf(&b, "replies         %d (%.0f/s)\n", r.replies, float64(r.replies)/r.elapsed.Seconds())
	fmt.Fprintf(&b, "kod             %d\n", r.kod)
	fmt.Fprintf(&b, "unsynchronised  %d\n", r.unsync)
	fmt.Fprintf(&b, "lost            %d (%.3f%%)\n", r.lost, 100*float64(r.lost)/float64(max(r.sent, 1)))
	if len(r.latencies) > 0 {
		slices.Sort(r.latencies)
		p := func(q float64) time.Duration { return r.latencies[int(q*float64(len(r.latencies)-1))] }
		fmt.Fprintf(&b, "latency         p50 %v  p99 %v  max %v\n", p(0.5), p(0.99), r.latencies[len(r.latencies)-1])
	}
	if r.pid != 0 {
		fmt.Fprintf(&b, "server cpu      %.3f s (%.0f%% of one core)\n", r.cpu.Seconds(), 100*r.cpu.Seconds()/r.elapsed.Seconds())
		if r.replies > 0 {
			fmt.Fprintf(&b, "cpu per reply   %.2f µs\n", float64(r.cpu.Nanoseconds())/1e3/float64(r.replies))
		}
	}
	return b.String()
}

// cpuTime returns the CPU time pid has used: the sum of its threads'
// run times from /proc/PID/task/*/schedstat (nanoseconds, exact), or, when
// schedstat is not available, utime+stime from /proc/PID/stat (10 ms
// ticks: too coarse for a few seconds at moderate rates).
func cpuTime(pid int) (time.Duration, error) {
	if d, err := schedstatTime(pid); err == nil {
		return d, nil
	}
	return statTime(pid)
}

func schedstatTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return 0, errors.New("bad schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, errors.New("bad schedstat")
		}
		sum += time.Duration(ns)
	}
	if sum == 0 {
		return 0, errors.New("no schedstat")
	}
	return sum, nil
}

func statTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad utime/stime in /proc stat")
	}
	const clkTck = 100 // USER_HZ on every Linux architecture we run on
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// client is one source socket, connected to the server.
type client struct {
	c   *net.UDPConn
	b4  *ipv4.PacketConn
	b6  *ipv6.PacketConn
	out []ipv4.Message
	in  []ipv4.Message
}

func dialFrom(i int, to netip.AddrPort, batch int) (*client, error) {
	var local *net.UDPAddr
	if to.Addr().Is4() {
		local = &net.UDPAddr{IP: net.IPv4(127, 0, byte(i>>8), byte(2+i%250))}
	}
	c, err := net.DialUDP("udp", local, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	cl := &client{c: c, out: make([]ipv4.Message, batch), in: make([]ipv4.Message, batch)}
	if to.Addr().Is4() {
		cl.b4 = ipv4.NewPacketConn(c)
	} else {
		cl.b6 = ipv6.NewPacketConn(c)
	}
	for i := range cl.out {
		cl.out[i].Buffers = [][]byte{make([]byte, ntpserve.HeaderLen)}
		cl.in[i].Buffers = [][]byte{make([]byte, 512)}
	}
	return cl, nil
}

func (cl *client) writeBatch(ms []ipv4.Message) (int, error) {
	if cl.b4 != nil {
		return cl.b4.WriteBatch(ms, 0)
	}
	return cl.b6.WriteBatch(ms, 0)
}

func (cl *client) readBatch(ms []ipv4.Message) (int, error) {
	if cl.b4 != nil {
		return cl.b4.ReadBatch(ms, 0)
	}
	return cl.b6.ReadBatch(ms, 0)
}

// stats are shared by the goroutines of one run.
type stats struct {
	sent, replies, kod, unsync atomic.Int64
	mu                         sync.Mutex
	lat                        []time.Duration
}

var epoch = time.Now()

// fill writes a client request whose transmit timestamp carries the send
// time (ns since epoch, monotonic): the server echoes it as origin.
func fill(b []byte) {
	clear(b)
	b[0] = 4<<3 | ntpserve.ModeClient
	b[2] = 6
	binary.BigEndian.PutUint64(b[40:], uint64(time.Since(epoch)))
}

func (st *stats) reply(b []byte, keepLatency bool) {
	if len(b) < ntpserve.HeaderLen {
		return
	}
	if b[1] == 0 && string(b[12:16]) == "RATE" {
		st.kod.Add(1)
		return
	}
	st.replies.Add(1)
	if b[0]>>6 == 3 {
		st.unsync.Add(1)
	}
	if keepLatency {
		d := time.Since(epoch) - time.Duration(binary.BigEndian.Uint64(b[24:32]))
		st.mu.Lock()
		if len(st.lat) < 2_000_000 {
			st.lat = append(st.lat, d)
		}
		st.mu.Unlock()
	}
}

func load(ctx context.Context, to netip.AddrPort, cfg loadConfig) (*result, error) {
	clients := make([]*client, cfg.sources)
	for i := range clients {
		cl, err := dialFrom(i, to, max(cfg.window, 64))
		if err != nil {
			return nil, fmt.Errorf("client socket %d: %w", i, err)
		}
		defer cl.c.Close()
		clients[i] = cl
	}
	var cpu0 time.Duration
	if cfg.pid != 0 {
		var err error
		if cpu0, err = cpuTime(cfg.pid); err != nil {
			return nil, fmt.Errorf("-pid %d: %w", cfg.pid, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	st := &stats{}
	start := time.Now()
	var wg sync.WaitGroup
	mode := "capacity"
	if cfg.rate > 0 {
		mode = fmt.Sprintf("fixed rate %d/s", cfg.rate)
		for _, cl := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); readUntil(ctx, cl, st) }()
		}
		pace(ctx, clients, st, cfg, start)
		time.Sleep(200 * time.Millisecond) // drain
		cancel()
	} else {
		for _, cl := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); keepWindow(ctx, cl, st, cfg) }()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := &result{
		mode: mode, elapsed: elapsed, sent: st.sent.Load(), replies: st.replies.Load(),
		kod: st.kod.Load(), unsync: st.unsync.Load(), latencies: st.lat, pid: cfg.pid,
	}
	r.lost = r.sent - r.replies - r.kod
	if cfg.pid != 0 {
		cpu1, err := cpuTime(cfg.pid)
		if err != nil {
			return nil, fmt.Errorf("-pid %d: %w", cfg.pid, err)
		}
		r.cpu = cpu1 - cpu0
	}
	return r, nil
}

// readUntil reads cl's replies until ctx is done (fixed-rate mode: one
// reader per socket).
func readUntil(ctx context.Context, cl *client, st *stats) {
	for {
		_ = cl.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := cl.readBatch(cl.in)
		for i := range n {
			st.reply(cl.in[i].Buffers[0][:cl.in[i].N], true)
		}
		if err != nil && ctx.Err() != nil {
			return
		}
	}
}

// pace sends cfg.rate requests a second from start, round robin over the
// clients, checking every millisecond what is due, until ctx is done or
// cfg.count are sent.
func pace(ctx context.Context, clients []*client, st *stats, cfg loadConfig, start time.Time) {
	limit := int64(cfg.count)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	k := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := float64(cfg.rate)*time.Since(start).Seconds() - float64(st.sent.Load())
		for ; due >= 1; due-- {
			if limit > 0 && st.sent.Load() >= limit {
				return
			}
			cl := clients[k%len(clients)]
			k++
			fill(cl.out[0].Buffers[0])
			if _, err := cl.c.Write(cl.out[0].Buffers[0]); err == nil {
				st.sent.Add(1)
			}
		}
	}
}

// keepWindow is capacity mode for one socket: it keeps cfg.window requests
// in flight (a read timeout counts the window as lost and refills it) until
// ctx is done or cfg.count are sent, then drains what is still in flight.
func keepWindow(ctx context.Context, cl *client, st *stats, cfg loadConfig) {
	limit := int64(cfg.count)
	inflight := 0
	read := func(d time.Duration) (int, error) {
		_ = cl.c.SetReadDeadline(time.Now().Add(d))
		n, err := cl.readBatch(cl.in[:cfg.window])
		for i := range n {
			st.reply(cl.in[i].Buffers[0][:cl.in[i].N], true)
		}
		inflight -= n
		return n, err
	}
	for ctx.Err() == nil {
		if limit > 0 && st.sent.Load() >= limit {
			break
		}
		k := cfg.window - inflight
		for i := range k {
			fill(cl.out[i].Buffers[0])
		}
		if k > 0 {
			n, _ := cl.writeBatch(cl.out[:k])
			inflight += n
			st.sent.Add(int64(n))
		}
		if _, err := read(50 * time.Millisecond); err != nil {
			inflight = 0 // timed out: the rest are lost
		}
	}
	// Drain what is still in flight.
	deadline := time.Now().Add(200 * time.Millisecond)
	for inflight > 0 {
		if _, err := read(time.Until(deadline)); err != nil {
			break
		}
	}
}
