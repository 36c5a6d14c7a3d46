// Command gpsntpd is the gpsntp appliance daemon: it reads NMEA from a GPS
// receiver and PPS edges, disciplines a clock to them and serves NTP.
//
// With -sim it runs the whole appliance without hardware: a simulated u-blox
// receiver writes NMEA into a pty at real baud timing, a simulated PPS source
// produces edges at the simulated GPS second boundaries (seen on the host
// clock, with Gaussian jitter -sim-jitter), and the Soft clock backend serves
// CLOCK_REALTIME plus a disciplined correction, never touching the kernel
// clock. The simulated GPS time differs from the host clock by -sim-offset,
// changing at -sim-freq-ppm, so a client can tell that the daemon really
// steered: it should see server − host = offset + freq·elapsed.
//
// Flags (other tools rely on these names): -config FILE, -sim, -sim-offset
// DURATION, -sim-freq-ppm FLOAT, -sim-jitter DURATION, -sim-leap
// insert|delete|none (the simulated receiver announces a leap second at the
// end of the simulated month in UBX-NAV-TIMELS), -sim-outage AFTER:DURATION
// (the simulated receiver and PPS go silent), -sim-jump AFTER:SECONDS (its
// labels go wrong), -listen ADDR (repeatable;
// default 127.0.0.1:12300 with -sim, :123 otherwise).
//
// On the appliance (image/gpsntp-boot passes them): -config-fallback FILE,
// the last good configuration, run with an alarm when -config does not load
// or validate, and rewritten from a good -config; -leapfile-extra A,B, leap
// files that replace `leapfile` when they expire later. `mdns on` answers
// HOSTNAME.local; the board's addresses are shown in status (find.go).
//
// -console DEV (or `console DEV` in the configuration) shows the live status
// screen and takes commands on a terminal ("-": gpsntpd's own); -control
// PATH sets the control socket gpsntpctl reads (default /run/gpsntp/ctl.sock,
// with -sim a per-user runtime path; "none": off). `metrics ADDR:PORT`
// serves Prometheus /metrics. SIGHUP re-reads the configuration: console
// and restrict/discard changes apply at once, other changes are reported as
// needing a restart.
//
// Without a console it prints a one-line status each second on stdout; logs
// (log/slog, repeats within a minute throttled) go to stderr.
// SIGINT and SIGTERM stop it with exit status 0; a configuration or device
// error exits with status 2 (bad configuration) or 1 (runtime failure).
package main
