// Package ntpserve is gpsntp's NTP server: the NTPv4 wire format (RFC 5905),
// UDP sockets with kernel receive timestamps, ntpd-style access control
// (package restrict), per-client rate limiting in fixed memory, kiss-o'-death
// and counters. It does not decide the time: it serves what a Clock says and
// describes it with the discipline's published Reference snapshot.
//
// # Packet path
//
// Each datagram goes through an ordered list of early returns, every exit
// counted (see Stats):
//
//	parse     shorter than 48 bytes (12 for mode 6)  → drop (OutDropMalformed)
//	access    restrict ignore                        → drop (OutDropRestrict)
//	          version not 1..4                       → drop (OutDropVersion)
//	mode      3 (and NTPv1 mode 0) → serve, reply mode 4
//	          1 → nopeer? drop (OutDropPeer) : reply mode 2
//	          6 → noquery, or no Config.Control      → drop (OutDropQuery)
//	              else control (mode6.go): READSTAT/READVAR answered in
//	              fragments (OutControl); other opcodes a 12-byte error;
//	              over the mode 6 reply limit        → drop (OutDropRate)
//	          7 → drop (OutDropQuery): no ntpdc service at all
//	          others → drop (OutDropMode)
//	          noserve, notrust, version(≠4)          → drop (OutDropRestrict)
//	rate      `limited` and over the discard limits  → KoD RATE if `kod`
//	                                                   and due, else drop
//	build     header from the Reference snapshot
//	xleave    interleaved client? previous reply's kernel transmit time
//	send      transmit timestamp predicted per reply, in chunks
//
// Mode 3 replies are 48 bytes and requests at least 48. Mode 6 reads can
// be larger than their request, but go only to addresses whose restrict
// rule lifts noquery (loopback by default), through a fixed-memory rate
// limiter. Every other mode 6 request gets at most a 12-byte error, no
// larger than any request. Extension fields and MACs are ignored.
//
// # Time
//
// The receive timestamp is the kernel's (SO_TIMESTAMPING software
// receive timestamp, CLOCK_REALTIME) mapped through Clock.Map, so a soft
// clock that leaves the kernel clock alone serves exactly as well as a
// disciplined system clock. The transmit timestamp is predicted per reply:
// the clock read just before each sendmmsg plus the send path's measured
// delay to that reply's departure, with as few replies per sendmmsg as
// keep the prediction short (txstamp_linux.go), and a busy worker's
// thread raised so that it is not switched out inside a chunk
// (priority_linux.go). Clients in interleaved mode (chronyd `xleave`)
// get the kernel's transmit timestamp of their previous reply instead
// (xleave.go). Root dispersion is
// Reference.RootDispersionAt(receive time): it grows in holdover.
//
// When the snapshot is nil or not synchronised the server answers as
// chronyd 4.3 does (observed on the wire): LI 3, stratum 0, refid 0,
// reference time 0, root delay and dispersion 1 s, real receive and transmit
// times. Clients refuse such replies; the pool counts the server as
// unsynchronised, not as dead.
//
// # Rate limiting and KoD
//
// As ntpd (ntpsec ntp_monitor.c): for addresses whose restrict rule has
// `limited`, a leaky bucket per client with `discard average` (log2 s,
// default 3) and `minimum` (s, default 2). The pool monitor (3 queries 2 s
// apart) and 64 s pollers are never limited; a hammering client is. A KoD
// RATE (LI 3, stratum 0, refid RATE, origin = receive = transmit = the
// client's transmit timestamp) goes out only with `kod`, and at most once
// per bucket overflow. The client table has a fixed size (Config.Clients)
// and a set-associative layout: O(1) per packet, no allocation.
//
// # Speed
//
// Per listen address, one SO_REUSEPORT socket and worker per core but one
// (Config.Workers; the first socket is bound without the option, so an
// address another process holds is refused instead of shared), recvmmsg/sendmmsg in batches, buffers allocated once:
// the steady state allocates nothing (tested with testing.AllocsPerRun).
// A worker waits in one of two ways, chosen every 100 ms from the request
// rate it measures. Below 1,000 requests/s (the usual life of a pool
// server) it parks in Go's network poller and reads and writes with raw,
// non-blocking system calls, so a request costs one thread wakeup and
// nothing happens while no request comes: no system call enters the
// scheduler's syscall state, so sysmon is left asleep. From
// 1,000/s (back below 500/s) it takes the socket out of the poller and
// sleeps in a blocking recvmmsg(MSG_WAITFORONE) itself, which saves
// epoll_wait, a read returning EAGAIN and a park and unpark per batch.
// With GOMAXPROCS 1 it never blocks: the blocked thread would hold the
// only P.
// See worker_linux.go for the scheduler traps each way has to avoid, and
// BENCHMARKS.md for the measurements.
//
// # Access control at run time
//
// Server.SetAccess swaps the restrict table and the discard limits of a
// running server (a SIGHUP reload) in one atomic store; each packet reads
// the pair with one atomic load. The rate limiter's clients are kept.
//
// # Operators
//
// Stats counts every Outcome (the one list of them, with their names);
// TopClients lists the clients with the most packets in the rate limiter's
// table (packets, limited, KoD, first and last seen), and RefreshClients
// updates such a list cheaply.
package ntpserve
