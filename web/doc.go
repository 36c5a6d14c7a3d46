// Package web is gpsntpd's LAN status page (`web ADDR:PORT`): one
// read-only page showing the status snapshot live (Server-Sent Events,
// once a second), plots of the last hour and day from a fixed-size
// history, the sky, the sources, the busiest clients and the event log.
//
// Every asset is embedded (the LAN may have no internet); the page runs
// under a Content-Security-Policy with no inline script or style. The
// 24 h history is written to a file rarely (SD-card wear) so that a
// reboot does not blank its plot.
package web
