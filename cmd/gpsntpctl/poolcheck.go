package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/internal/poolcheck"
)

func init() {
	commands["poolcheck"] = command{"the NTP Pool monitor's view of a server: checks, score, projection [-n N] [-plot FILE.svg|.png] HOST[:PORT]", runPoolcheck}
}

const ntpPort = 123

// quickestInterval is the shortest time between checks that ntpd's default
// rate limit lets through for good: each check's 3 queries add 3×(8−2) s to
// the client's bucket (8 s headway less ntpd's 2 s grace), which drains at
// 1 s per s. 10 s checks filled it in a minute (a run against gpsntpd -sim
// with the classic restrict lines got KoD RATE from the 8th check).
const quickestInterval = 30 * time.Second

// runPoolcheck is `gpsntpctl poolcheck [flags] HOST[:PORT]`: the Pool
// monitor's checks of a server, each printed with the running score as it
// goes, then the projected score and every deduction's reason.
func runPoolcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("poolcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gpsntpctl poolcheck [flags] HOST[:PORT]\n\nChecks an NTP server as the NTP Pool's monitor does (3 queries 2 s apart, about\nevery 9 minutes) and scores it as the Pool does. Offsets are measured against this\nmachine's clock, which must keep good time.\n\nflags:")
		fs.PrintDefaults()
	}
	n := fs.Int("n", 10, "number of checks (0: until interrupted)")
	interval := fs.Duration("interval", poolcheck.DefaultInterval, "time between the starts of checks (the monitor's: 9m; shorter for a quick look)")
	spacing := fs.Duration("spacing", poolcheck.DefaultSpacing, "time between the queries of a check (the monitor's: 2s)")
	timeout := fs.Duration("timeout", poolcheck.DefaultTimeout, "how long to wait for each reply (the monitor's: 3s)")
	limit := fs.Duration("limit", poolcheck.DefaultOffsetLimit, "largest offset still worth +1 (the monitor's: 25ms)")
	plot := fs.String("plot", "", "write the score over checks to FILE.svg or FILE.png")
	asJSON := fs.Bool("json", false, "print the checks, score and projection as one JSON object at the end")
	// Flags may come after HOST too: parse what follows it again.
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) > 1 {
		target := rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return 2
		}
		rest = append([]string{target}, fs.Args()...)
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	switch {
	case *n < 0:
		fmt.Fprintf(stderr, "poolcheck: -n %d: want 0 or more checks\n", *n)
		return 2
	case *interval <= 0 || *spacing <= 0 || *timeout <= 0 || *limit <= 0:
		fmt.Fprintln(stderr, "poolcheck: -interval, -spacing, -timeout and -limit must be positive")
		return 2
	}
	plotFormat := ""
	if *plot != "" {
		plotFormat = strings.ToLower(filepath.Ext(*plot))
		if plotFormat != ".svg" && plotFormat != ".png" {
			fmt.Fprintf(stderr, "poolcheck: -plot %s: want a file name ending in .svg or .png\n", *plot)
			return 2
		}
	}
	host, port, err := parseTarget(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "poolcheck: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addrs, err := resolve(ctx, host)
	if err != nil {
		fmt.Fprintf(stderr, "poolcheck: %v\n", err)
		return 1
	}
	addr := netip.AddrPortFrom(addrs[0], port)
	checker, err := poolcheck.NewChecker(poolcheck.Config{Addr: addr, Spacing: *spacing, Timeout: *timeout})
	if err != nil {
		fmt.Fprintf(stderr, "poolcheck: %v\n", err)
		return 1
	}
	sc := poolcheck.Scoring{OffsetLimitNs: int64(*limit)}

	text := stdout
	if *asJSON {
		text = io.Discard
	}
	header(text, rest[0], addr, addrs, *n, *interval, *spacing, *limit)
	first, num := true, 0
	checks, err := checker.Run(ctx, sc, *n, *interval, func(c poolcheck.Checked) {
		if first {
			stamps := "user-space receive times (no kernel timestamps on this socket)"
			if len(c.Queries) > 0 && c.Queries[0].KernelStamp {
				stamps = "kernel receive timestamps"
			}
			fmt.Fprintf(text, "Offsets: the server's clock minus this machine's (positive: server ahead), %s.\n\n", stamps)
			fmt.Fprintln(text, "check  time      result              offset      delay    step   score")
			first = false
		}
		num++
		printCheck(text, num, c)
	})
	if err != nil {
		fmt.Fprintf(stderr, "poolcheck: %v\n", err)
		return 1
	}
	if len(checks) == 0 {
		fmt.Fprintln(stderr, "poolcheck: interrupted before the first check ended")
		return 1
	}
	score := checks[len(checks)-1].Score
	proj := poolcheck.Project(score, poolcheck.Steps(checks))
	summary(text, checks, proj)
	if *plot != "" {
		p := poolcheck.PlotFor(fmt.Sprintf("gpsntpctl poolcheck %s: score over checks", addr), checks, proj)
		if err := writePlot(*plot, plotFormat, p); err != nil {
			fmt.Fprintf(stderr, "poolcheck: %v\n", err)
			return 1
		}
		fmt.Fprintf(text, "\nPlot: %s\n", *plot)
	}
	if *asJSON {
		proj.Curve = poolcheck.PlotFor("", nil, proj).Projected
		out := struct {
			Server        string               `json:"server"`
			Address       string               `json:"address"`
			OffsetLimitNs int64                `json:"offset_limit_ns"`
			Checks        []poolcheck.Checked  `json:"checks"`
			Score         float64              `json:"score"`
			Projection    poolcheck.Projection `json:"projection"`
		}{rest[0], addr.String(), int64(*limit), checks, score, proj}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "poolcheck: %v\n", err)
			return 1
		}
	}
	return 0
}

// parseTarget splits HOST[:PORT] ([V6]:PORT, or a bare IPv6 literal),
// refusing what cannot be a host name or a port.
func parseTarget(s string) (host string, port uint16, err error) {
	if s == "" {
		return "", 0, errors.New("empty HOST: want HOST or HOST:PORT")
	}
	host, portStr := s, ""
	switch {
	case !strings.ContainsAny(s, "[]") && strings.Count(s, ":") > 1:
		// A bare IPv6 address (its port, if any, needs brackets).
		if _, err := netip.ParseAddr(s); err != nil {
			return "", 0, fmt.Errorf("bad HOST %q: not an IPv6 address (write [ADDRESS]:PORT for a port)", s)
		}
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
		if _, err := netip.ParseAddr(host); err != nil {
			return "", 0, fmt.Errorf("bad HOST %q: not an IPv6 address in brackets", s)
		}
	case strings.ContainsAny(s, ":[]"):
		if host, portStr, err = net.SplitHostPort(s); err != nil {
			return "", 0, fmt.Errorf("bad HOST[:PORT] %q: %v", s, strings.TrimPrefix(err.Error(), "address "+s+": "))
		}
		if portStr == "" {
			return "", 0, fmt.Errorf("empty port in %q: want a number 1-65535", s)
		}
	}
	port = ntpPort
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		switch {
		case err != nil:
			return "", 0, fmt.Errorf("bad port %q in %q: want a number 1-65535", portStr, s)
		case p < 1 || p > 65535:
			return "", 0, fmt.Errorf("port %d in %q out of range: want 1-65535", p, s)
		}
		port = uint16(p)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, port, nil
	}
	if err := checkHostname(host); err != nil {
		return "", 0, fmt.Errorf("bad HOST %q: %v", host, err)
	}
	return host, port, nil
}

// checkHostname accepts DNS names as resolvers do: labels of letters,
// digits, '-' and '_', 1–63 bytes, 253 in all.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty")
	}
	if len(strings.TrimSuffix(h, ".")) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return errors.New("want dot-separated labels of 1 to 63 characters")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not allowed in a host name", c)
			}
		}
	}
	return nil
}

// resolve looks host up (an address is its own answer), IPv4 first as
// the list came.
func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			err = errors.New(dnsErr.Err)
		}
		return nil, fmt.Errorf("%s does not resolve: %v", host, err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

func header(w io.Writer, target string, addr netip.AddrPort, addrs []netip.Addr, n int, interval, spacing, limit time.Duration) {
	checks := fmt.Sprintf("%d checks", n)
	switch n {
	case 1:
		checks = "1 check"
	case 0:
		checks = "checks until interrupted"
	}
	fmt.Fprintf(w, "poolcheck %s: %s, one every %s, 3 queries %s apart; +1 within %s of this machine's clock.\n",
		addr, checks, interval, spacing, limit)
	if len(addrs) > 1 {
		fmt.Fprintf(w, "%s has %d addresses; checking the first. The Pool scores each address on its own.\n", target, len(addrs))
	}
	fmt.Fprintln(w, "poolcheck assumes the machine running it keeps good time: check it first (chronyc tracking, ntpq -p).")
	// ntpd's default `discard average 3 minimum 2` (one query per 8 s on
	// average, 2 s apart at least) is what a server with `restrict …
	// limited` holds each client to: the monitor's pattern passes it, a
	// faster look does not, and the KoD or silence would be poolcheck's
	// own doing.
	if interval < quickestInterval {
		fmt.Fprintf(w, "Note: a check every %s is faster than the monitor's %s: a server with `restrict ... limited` (ntpd's discard average 3) rate limits that; use -interval %s or more.\n", interval, poolcheck.DefaultInterval, quickestInterval)
	}
	if spacing < poolcheck.DefaultSpacing {
		fmt.Fprintf(w, "Note: queries %s apart break `discard minimum 2`: a server with `restrict ... limited` answers them with KoD RATE or not at all.\n", spacing)
	}
	if a := addr.Addr(); a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() {
		fmt.Fprintf(w, "Note: %s is not a public address; the Pool's monitors refuse loopback and private addresses.\n", a)
	}
}

// printCheck prints check number num: its verdict, the offset and delay
// of the reply that counted, the step and the running score, and why the
// step is below +1.
func printCheck(w io.Writer, num int, c poolcheck.Checked) {
	r := c.Result
	what, offset, delay := r.Kind.String(), "", ""
	switch r.Kind {
	case poolcheck.Replied, poolcheck.StratumHigh:
		what = fmt.Sprintf("reply, stratum %d", r.Stratum)
		offset = fmt.Sprintf("%+.3f ms", noNegZero(float64(r.OffsetNs)/1e6, 1e3))
		delay = fmt.Sprintf("%.3f ms", float64(r.DelayNs)/1e6)
	case poolcheck.NoReply:
		what = fmt.Sprintf("no reply (0/%d)", len(c.Queries))
	case poolcheck.KissRate, poolcheck.KissDeny:
		what = fmt.Sprintf("KoD %s (query %d)", r.Kiss, r.Query)
	case poolcheck.Unsync:
		what = fmt.Sprintf("unsync (query %d)", r.Query)
	}
	line := fmt.Sprintf("%5d  %s  %-18s %11s %10s  %+5.2f  %6.2f", num, c.At.Format("15:04:05"), what, offset, delay, c.Step, c.Score)
	if c.Reason != "" {
		line += "  " + c.Reason
	}
	fmt.Fprintln(w, line)
}

// summary prints the score, the projection and every deduction. When
// the checks did not all go the same way it also projects the last one
// alone: a deduction at start-up (before the receiver locked) need not
// recur.
func summary(w io.Writer, checks []poolcheck.Checked, p poolcheck.Projection) {
	score := checks[len(checks)-1].Score
	state := "not in the Pool yet: servers above 10 get clients"
	if score > poolcheck.InThreshold {
		state = "in the Pool (above 10)"
	}
	fmt.Fprintf(w, "\nScore after %d checks: %.2f, %s.\n", len(checks), score, state)
	fmt.Fprintf(w, "If every further check goes as these %d did (repeated in order):\n", len(checks))
	projection(w, p)
	steps := poolcheck.Steps(checks)
	if last := steps[len(steps)-1]; slices.ContainsFunc(steps, func(s poolcheck.Scored) bool { return s != last }) {
		fmt.Fprintln(w, "If every further check goes as the last one did:")
		projection(w, poolcheck.Project(score, steps[len(steps)-1:]))
	}
	var deductions []string
	for i, c := range checks {
		if c.Step < 1 {
			deductions = append(deductions, fmt.Sprintf("  check %d: %+.2f  %s", i+1, c.Step, c.Reason))
		}
	}
	if len(deductions) == 0 {
		fmt.Fprintln(w, "No deductions: every check earned +1.")
		return
	}
	fmt.Fprintf(w, "Deductions (%d of %d checks earned less than +1):\n", len(deductions), len(checks))
	for _, d := range deductions {
		fmt.Fprintln(w, d)
	}
}

// projection prints when p crosses 10, at the monitor's cadence, and
// where it settles.
func projection(w io.Writer, p poolcheck.Projection) {
	cadence := fmt.Sprintf("at the monitor's %s cadence", fmtDur(poolcheck.DefaultInterval))
	switch {
	case p.CrossAt > 0 && p.Up:
		fmt.Fprintf(w, "  it crosses 10 (into the Pool) after %d more checks: about %s %s;\n", p.CrossAt, fmtDur(time.Duration(p.CrossAt)*poolcheck.DefaultInterval), cadence)
	case p.CrossAt > 0:
		fmt.Fprintf(w, "  it drops to 10 or below (out of the Pool) after %d more checks: about %s %s;\n", p.CrossAt, fmtDur(time.Duration(p.CrossAt)*poolcheck.DefaultInterval), cadence)
	case p.In:
		fmt.Fprintln(w, "  it stays above 10 (in the Pool);")
	default:
		fmt.Fprintln(w, "  it never gets above 10: the Pool would send it no clients;")
	}
	verdict := "in the Pool"
	if !p.In {
		verdict = "out of the Pool"
	}
	if p.SettleHigh-p.SettleLow < 0.005 {
		fmt.Fprintf(w, "  it settles at %.2f (%s).\n", p.SettleLow, verdict)
	} else {
		fmt.Fprintf(w, "  it settles between %.2f and %.2f, %.2f on average (%s).\n", p.SettleLow, p.SettleHigh, p.SettleMean, verdict)
	}
}

// noNegZero is v, or 0 where v rounds to zero at 1/per: no "-0.000" for
// an offset of a few hundred ns.
func noNegZero(v, per float64) float64 {
	if math.Round(v*per) == 0 {
		return 0
	}
	return v
}

// fmtDur is a duration in words a user reads at a glance: 9m, 2h6m.
func fmtDur(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

func writePlot(path, format string, p poolcheck.Plot) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if format == ".png" {
		err = p.PNG(f)
	} else {
		err = p.SVG(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	return nil
}
