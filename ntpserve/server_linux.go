//go:build linux

package ntpserve

import (
	"cmp"
	"math"
	"net/netip"
	"runtime"
	"slices"
)

// The server's Linux side is in three files: this one opens the sockets
// of every listen address (socket_linux.go sets each one up), and
// worker_linux.go serves one socket, reading what the kernel attaches to
// each datagram with cmsg_linux.go.

// open binds Workers sockets per listen address and makes their workers.
func (s *Server) open(cfg Config) error {
	aps, err := splitListen(cfg.Listen)
	if err != nil {
		return err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = defaultWorkers(runtime.GOMAXPROCS(0))
	}
	br := busyRateFor(busyRateDefault, runtime.GOMAXPROCS(0))
	bufBytes := cfg.SocketBuffer
	if bufBytes <= 0 {
		bufBytes = defaultSocketBuffer
	}
	txBudget := cfg.TxBudget.Nanoseconds()
	if txBudget <= 0 {
		txBudget = txBudgetDefaultNs
	}
	busyNice := cfg.BusyNice
	if busyNice == 0 {
		busyNice = DefaultBusyNice
	}
	s.addrs = make([]netip.AddrPort, len(aps))
	order := bindOrder(aps)
	for n, k := range order {
		ap := aps[k]
		claim := true
		for _, j := range order[:n] {
			if covers(aps[j], ap) {
				claim = false // already proved free by our own claim
			}
		}
		bound := ap
		for i := range workers {
			sock, err := listenUDP(bound, bufBytes, claim && i == 0)
			if err != nil {
				return err
			}
			if i == 0 {
				// Port 0: the other workers join the port the first got.
				bound = sock.addr
				s.addrs[k] = bound
			}
			if sock.userStamps {
				s.h.userStamps.Store(true)
			}
			s.workers = append(s.workers, newWorker(&s.h, sock.fd, ap.Addr().Is6(), ap.Addr().IsUnspecified(), sock.txStamps, s.batch, br, txBudget, busyNice))
		}
	}
	return nil
}

// bindOrder returns the indexes of aps, wildcards first: a wildcard's
// claim (see listenUDP) covers every specific address of its family on
// its port, and a specific address bound first would make the wildcard's
// claim fail on our own socket.
func bindOrder(aps []netip.AddrPort) []int {
	order := make([]int, len(aps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(boolInt(!aps[a].Addr().IsUnspecified()), boolInt(!aps[b].Addr().IsUnspecified()))
	})
	return order
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// covers reports whether binding a (already done, by this Server) proved
// b free too: the same family and the same fixed port, and a is b or the
// family's wildcard. Port 0 covers nothing: each bind draws its own port.
func covers(a, b netip.AddrPort) bool {
	return a.Port() != 0 && a.Port() == b.Port() && a.Addr().Is6() == b.Addr().Is6() &&
		(a.Addr() == b.Addr() || a.Addr().IsUnspecified())
}

// defaultWorkers is one worker per core but one: while every P is held by
// a thread blocked in a system call, Go's sysmon takes Ps back within
// microseconds and keeps polling at 20 µs (runtime/proc.go retake: it
// leaves a P to its syscall only while another P is idle), which costs
// more than a blocking worker saves.
func defaultWorkers(procs int) int { return max(1, procs-1) }

// busyRateDefault is the request rate (per worker, requests/s) from which
// a worker blocks in recvmmsg instead of parking in the poller; below
// half of it, it goes back to the poller. Blocking saves epoll_wait, a
// recvmmsg returning EAGAIN and a park and unpark per wakeup (about a
// fifth of a wakeup's cost at low rates, profiled), but a wait that
// times out costs a whole wakeup for nothing: with Poisson arrivals at
// rate λ a request costs e^(−λ·busyWait)/(1−e^(−λ·busyWait)) timeouts,
// 1.5 at 250/s, 0.16 at 1,000/s. Measured (BENCHMARKS.md), the two ways
// cost the same at 1,000/s within the noise of a shared machine, and
// blocking is ahead from 5,000/s to capacity.
const busyRateDefault = 1000

// busyRateFor is the busy rate a worker uses when rate is asked for with
// procs Ps: rate itself (0 blocks always, math.MaxInt never), except
// that with one P workers never block: a worker blocked in recvmmsg
// holds its P, and every other goroutine would wait for sysmon to take
// it back.
func busyRateFor(rate, procs int) int {
	if procs < 2 {
		return math.MaxInt
	}
	return rate
}

// setBusyRate sets the rate (requests/s per worker) from which the
// workers block in recvmmsg, as busyRateFor says; tests use it to
// exercise both ways of waiting. Call it before Serve: a worker reads its
// rate only while it runs.
func (s *Server) setBusyRate(rate int) {
	for _, w := range s.workers {
		w.busyRate = busyRateFor(rate, runtime.GOMAXPROCS(0))
	}
}
