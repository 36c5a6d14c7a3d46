// Command ntpload measures an NTP server on the loopback interface: replies
// per second at capacity, latency percentiles at a fixed rate, KoD and
// losses, and (given the server's PID) its CPU time per reply from
// /proc/PID/stat. It refuses non-loopback targets and is bounded in time
// and packet count.
//
// It can also be the server under test: `ntpload -serve 127.0.0.1:12300`
// runs gpsntp's ntpserve with a synchronised fixed reference and the host
// clock as served clock (the same code path as gpsntpd, without a
// discipline), so it can be compared with chronyd on the same machine.
//
//	ntpload -serve 127.0.0.1:12300 -duration 60s &
//	ntpload -addr 127.0.0.1:12300 -pid $! -duration 5s             # capacity
//	ntpload -addr 127.0.0.1:12300 -pid $! -duration 5s -rate 2000  # latency
package main
