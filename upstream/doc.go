// Package upstream is gpsntp's NTP client for the `server` and `pool`
// lines: it polls upstream servers with the server's own wire code
// (ntpserve.Header), keeps RFC 5905 associations (clock filter, reach,
// dispersion growing at 15 ppm, jitter), and selects the truechimers by
// intersection (Marzullo, RFC 5905 section 11.2.1), the cluster
// algorithm and a combination weighted by root distance.
//
// It decides nothing about the served clock: Estimate says what the
// upstreams agree on (offset = upstream minus our served clock, an error
// bound, stratum and refid to serve at, the sources used), and the daemon
// uses it for the time at boot, the GPS veto and the fallback. Status is
// the ntpq -p billboard.
//
// # Packets
//
// Requests carry a random transmit timestamp, not our clock (as chrony
// does): the reply's origin must equal it, which rejects late, duplicate
// and off-path forged replies, and leaks nothing. T1 and T4 are the
// served clock (Clock.Now; the kernel receive time SO_TIMESTAMPNS through
// Clock.Map). A reply is checked as RFC 5905 section 8 says (checkReply:
// mode 4, origin, stratum 1–15, leap ≠ 3, non-zero and ordered
// timestamps, root distance < 1.5 s); a failing reply is dropped and
// counted per association.
//
// The clock is steered while samples wait in the filters: Stepped shifts
// them by a step, and each keeps Config.Slews at its T4, so that the
// filter re-expresses it for what has been slewed since.
//
// # Polling
//
// iburst: 6 packets 2 s apart at start and after an association that had
// answered becomes unreachable (8 polls without a reply); then every
// 2^minpoll s, at least 64 s, doubling after 8 answered polls up to
// maxpoll. Kiss-o'-death RATE doubles the poll for good; DENY and RSTR
// stop polling that address (a pool replaces it). Each is logged once.
//
// # Pools
//
// A pool name is resolved to up to maxsources associations; a member
// that becomes unreachable or stays a falseticker for 4 samples is
// dropped and the name resolved again for a replacement.
package upstream
