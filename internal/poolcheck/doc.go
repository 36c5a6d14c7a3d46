// Package poolcheck looks at an NTP server the way the NTP Pool's
// monitor does, before its owner adds it to the Pool.
//
// A check is the monitor's pattern: up to 3 queries 2 s apart (Check);
// a kiss-o'-death or an unsynchronised reply ends it at once, otherwise
// the lowest-delay reply counts and "no reply" only if none came. The
// Pool repeats it about every 9 minutes from each monitor.
//
// Scoring (Scoring.Step, Next, Project) is pure and follows the monitor
// (facts in ../shared/DESIGN.md, the rest from ntppool/monitor's
// scorer/statusscore): score = 0.95·score + step, in the Pool above 10,
// at most 20. Steps: +1 for a reply within the offset limit (25 ms),
// less beyond it, −5 no reply, −3.5 KoD RATE, −10 KoD DENY or RSTR (and
// the score held at −50 or below), −4 unsynchronised (leap indicator 3,
// stratum 0 without a kiss code we know, stratum 16), −4 stratum 8 or
// more.
//
// Offsets are the server's clock minus this machine's (positive: the
// server is ahead), with T4 the kernel's receive timestamp where the
// socket gives one: poolcheck assumes the machine running it keeps
// good time. Plot draws the score over checks as SVG or PNG.
package poolcheck
