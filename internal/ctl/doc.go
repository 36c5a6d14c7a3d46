// Package ctl is what an operator sees of a running gpsntpd: the status
// Snapshot the daemon assembles once a second, the text views of it
// (status, sats, sources, clients, log) shared by the serial console and
// gpsntpctl, the live console screen, the control socket that serves the
// snapshot to gpsntpctl, and the event log (a log/slog handler that keeps a
// ring of recent events and throttles repeats).
//
// The console never blocks its caller on a terminal that stopped taking
// output (Scroll Lock, XOFF): its frames go through a bounded queue and
// are dropped, not waited for.
//
// The snapshot is a plain value with JSON tags (gpsntpctl -json prints it);
// rendering is pure (a Snapshot in, text out), so the console and gpsntpctl
// show the same thing and tests compare text.
//
// Control socket protocol (a unix stream socket, mode 0660, group the
// daemon's): the client sends one line, "snapshot", and reads one JSON
// Snapshot; the daemon then closes the connection. Unknown requests, lines
// over MaxRequestBytes and clients silent for IdleTimeout get a JSON
// {"error": …} that quotes at most a short prefix of the request; with
// MaxClients connections open, one more gets {"error": "busy: …"}.
// Listen replaces only a stale socket, never another file.
package ctl
