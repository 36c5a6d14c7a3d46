package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics: the `metrics ADDR:PORT` directive serves Prometheus' /metrics
// there (off by default). Every value comes from the status snapshot the
// daemon assembles each second, so a scrape costs the NTP path nothing.

var (
	descOffset    = prometheus.NewDesc("gpsntp_offset_seconds", "Last offset measured by the servo; positive: our clock ahead of UTC.", nil, nil)
	descJitter    = prometheus.NewDesc("gpsntp_jitter_seconds", "Servo jitter (RMS of recent offsets).", nil, nil)
	descFreq      = prometheus.NewDesc("gpsntp_frequency_ppm", "Frequency correction applied to the clock; positive: sped up.", nil, nil)
	descRootDisp  = prometheus.NewDesc("gpsntp_root_dispersion_seconds", "Error bound advertised to clients now.", nil, nil)
	descState     = prometheus.NewDesc("gpsntp_state", "Discipline state: 1 for the current state, 0 for the others.", []string{"state"}, nil)
	descSynced    = prometheus.NewDesc("gpsntp_synchronised", "1 when the time served is trusted (stratum 1), 0 when clients are told unsynchronised.", nil, nil)
	descStratum   = prometheus.NewDesc("gpsntp_stratum", "Stratum served (0: unsynchronised).", nil, nil)
	descHoldover  = prometheus.NewDesc("gpsntp_holdover_seconds", "Time spent in the current holdover (0 unless holding over).", nil, nil)
	descSteps     = prometheus.NewDesc("gpsntp_clock_steps_total", "Clock steps.", nil, nil)
	descEdges     = prometheus.NewDesc("gpsntp_pps_edges_total", "PPS edges received.", nil, nil)
	descMissed    = prometheus.NewDesc("gpsntp_pps_missed_total", "PPS pulses missed (sequence or timing gaps).", nil, nil)
	descBadEdges  = prometheus.NewDesc("gpsntp_pps_bad_edges_total", "PPS edges whose period fitted nothing (outliers, doubles, duplicates, backwards).", nil, nil)
	descPaired    = prometheus.NewDesc("gpsntp_pps_paired_total", "PPS edges labelled with a UTC second and used.", nil, nil)
	descUnpaired  = prometheus.NewDesc("gpsntp_pps_unpaired_total", "Fixes for which no PPS edge could be labelled with certainty.", nil, nil)
	descLastEdge  = prometheus.NewDesc("gpsntp_pps_last_edge_age_seconds", "Seconds since the last PPS edge (absent before the first).", nil, nil)
	descFixes     = prometheus.NewDesc("gpsntp_gps_fixes_total", "Receiver epochs decoded.", nil, nil)
	descUntrusted = prometheus.NewDesc("gpsntp_gps_fixes_untrusted_total", "Receiver epochs whose time was not trusted.", nil, nil)
	descDistrust  = prometheus.NewDesc("gpsntp_gps_times_distrusted_total", "Receiver times not followed: after lock, further from the clock than the step threshold.", nil, nil)
	descAlarms    = prometheus.NewDesc("gpsntp_alarms", "Conditions an operator must act on now (gpsntpctl status lists them).", nil, nil)
	descDevUp     = prometheus.NewDesc("gpsntp_gps_device_up", "1 when the receiver's serial device is open.", nil, nil)
	descLosses    = prometheus.NewDesc("gpsntp_gps_device_losses_total", "Times the receiver's serial device was lost after being open.", nil, nil)
	descSatsUsed  = prometheus.NewDesc("gpsntp_satellites_used", "Satellites used in the last fix.", nil, nil)
	descSatsView  = prometheus.NewDesc("gpsntp_satellites_in_view", "Satellites in view in the last epoch.", nil, nil)
	descHDOP      = prometheus.NewDesc("gpsntp_gps_hdop", "Horizontal dilution of precision of the last fix.", nil, nil)
	descRequests  = prometheus.NewDesc("gpsntp_ntp_requests_total", "NTP packets received, by outcome (every packet has exactly one).", []string{"outcome"}, nil)
	descSendErr   = prometheus.NewDesc("gpsntp_ntp_send_errors_total", "Replies the kernel refused.", nil, nil)
	descRecvErr   = prometheus.NewDesc("gpsntp_ntp_receive_errors_total", "Failed socket reads.", nil, nil)
	descXleave    = prometheus.NewDesc("gpsntp_ntp_interleaved_replies_total", "Synchronised replies sent in interleaved mode (with the kernel transmit time of the previous reply).", nil, nil)
	descRateLim   = prometheus.NewDesc("gpsntp_ntp_rate_limited_total", "Requests over the discard limits (dropped or answered with KoD).", nil, nil)

	// Upstream servers (`server`/`pool` lines): one series per association,
	// labelled with its address and the configured name (a line whose name
	// does not resolve yet: the name in both).
	upstreamLabels  = []string{"addr", "host"}
	descUpReach     = prometheus.NewDesc("gpsntp_upstream_reach", "Upstream reachability register (8 bits, newest poll in bit 0; 0: unreachable).", upstreamLabels, nil)
	descUpOffset    = prometheus.NewDesc("gpsntp_upstream_offset_seconds", "Our clock minus the upstream's (clock filter); positive: our clock ahead. Absent before its first reply.", upstreamLabels, nil)
	descUpDelay     = prometheus.NewDesc("gpsntp_upstream_delay_seconds", "Round-trip delay to the upstream (clock filter). Absent before its first reply.", upstreamLabels, nil)
	descUpJitter    = prometheus.NewDesc("gpsntp_upstream_jitter_seconds", "Upstream jitter (RMS of the filter's offset differences). Absent before its first reply.", upstreamLabels, nil)
	descUpDrops     = prometheus.NewDesc("gpsntp_upstream_drops_total", "Upstream replies dropped by the checks (RFC 5905 section 8).", upstreamLabels, nil)
	descUpSelected  = prometheus.NewDesc("gpsntp_upstream_selected", "1 for the upstream system peer (*) and the candidates combined with it (+).", upstreamLabels, nil)
	descTruechimers = prometheus.NewDesc("gpsntp_upstream_truechimers", "Upstreams whose correctness intervals intersect (agree).", nil, nil)
	descUpOK        = prometheus.NewDesc("gpsntp_upstream_ok", "1 when at least minsane upstream truechimers agree.", nil, nil)
)

// snapshotCollector is a prometheus.Collector reading the status snapshot.
type snapshotCollector struct{ get func() *ctl.Snapshot }

func (c snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOffset, descJitter, descFreq, descRootDisp, descState, descSynced,
		descStratum, descHoldover, descSteps, descEdges, descMissed, descBadEdges, descPaired, descUnpaired,
		descLastEdge, descFixes, descUntrusted, descDistrust, descAlarms, descDevUp, descLosses, descSatsUsed, descSatsView, descHDOP,
		descRequests, descSendErr, descRecvErr, descXleave, descRateLim,
		descUpReach, descUpOffset, descUpDelay, descUpJitter, descUpDrops, descUpSelected, descTruechimers, descUpOK} {
		ch <- d
	}
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.get()
	if s == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	n := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	g(descOffset, s.OffsetNs/1e9)
	g(descJitter, s.JitterNs/1e9)
	g(descFreq, s.FreqPPB/1e3)
	g(descRootDisp, float64(s.RootDispersionNs)/1e9)
	// Every state, named as the engine names it (Unsynchronised first,
	// Upstream, the last added, last).
	for st := discipline.Unsynchronised; st <= discipline.Upstream; st++ {
		g(descState, b(st.String() == s.State), st.String())
	}
	g(descSynced, b(s.Synchronised))
	g(descStratum, float64(s.Stratum))
	g(descHoldover, s.HoldoverS)
	n(descSteps, s.Steps)
	n(descEdges, s.PPS.Edges)
	n(descMissed, s.PPS.Missed)
	n(descBadEdges, s.PPS.Bad)
	n(descPaired, s.PPS.Paired)
	n(descUnpaired, s.PPS.Unpaired)
	if s.PPS.LastEdgeAgoS >= 0 {
		g(descLastEdge, s.PPS.LastEdgeAgoS)
	}
	n(descFixes, s.GPS.Fixes)
	n(descUntrusted, s.GPS.Untrusted)
	n(descDistrust, s.GPS.Distrusted)
	g(descAlarms, float64(len(s.Alarms)))
	g(descDevUp, b(s.GPS.DeviceState == "open"))
	n(descLosses, s.GPS.Losses)
	g(descSatsUsed, float64(s.GPS.SatsUsed))
	g(descSatsView, float64(s.GPS.SatsInView))
	g(descHDOP, s.GPS.HDOP)
	v := s.Server.Counts
	for o := range ntpserve.NumOutcomes {
		n(descRequests, v.Outcomes[o], o.String())
	}
	n(descSendErr, v.SendErrors)
	n(descRecvErr, v.RecvErrors)
	n(descXleave, v.Interleaved)
	n(descRateLim, v.Outcomes[ntpserve.OutDropRate]+v.Outcomes[ntpserve.OutKoD])
	if u := s.Upstream; u != nil {
		g(descTruechimers, float64(u.Truechimers))
		g(descUpOK, b(u.OK))
	}
	// A series twice in one scrape fails the whole scrape: two lines
	// naming one host not resolved yet would give the same labels.
	seen := map[[2]string]bool{}
	for _, src := range s.Sources {
		lv := [2]string{src.Remote, src.Host}
		if !src.IsUpstream() || seen[lv] {
			continue
		}
		seen[lv] = true
		g(descUpReach, float64(src.Reach), lv[:]...)
		if src.WhenS >= 0 {
			g(descUpOffset, src.OffsetNs/1e9, lv[:]...)
			g(descUpDelay, src.DelayNs/1e9, lv[:]...)
			g(descUpJitter, src.JitterNs/1e9, lv[:]...)
		}
		n(descUpDrops, src.Drops, lv[:]...)
		g(descUpSelected, b(src.Tally == "*" || src.Tally == "+"), lv[:]...)
	}
}

// listenMetrics binds the metrics address (before privileges are dropped).
func listenMetrics(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", addr, err)
	}
	return ln, nil
}

// metricsHandler is /metrics for the snapshot get returns, plus the Go
// runtime and process collectors (RSS, CPU, goroutines).
func metricsHandler(get func() *ctl.Snapshot) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(snapshotCollector{get: get},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// serveMetrics serves /metrics on ln until ctx is done.
func serveMetrics(ctx context.Context, ln net.Listener, get func() *ctl.Snapshot) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(get))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "gpsntp: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
