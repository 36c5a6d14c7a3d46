// Package config reads gpsntpd's configuration file: ntp.conf syntax (one
// directive per line, words separated by blanks, '#' starts a comment).
// Directives that exist in ntpd/ntpsec keep their names and meaning
// (driftfile, leapfile, restrict, discard, server, pool, interface); the
// appliance's own directives are new words (gps, pps, board, clock,
// holdover, console, control, metrics, user, ppsoffset, nmeadelay, step).
//
// Every error names file:line, the directive and what was expected. Unknown
// directives are errors, never silently ignored: a typo in a time server's
// configuration must not pass unnoticed. A near miss gets "did you mean";
// a directive of ntpd or chrony that we do not take gets what we have
// instead (the table in classic.go); a directive that may be given once is
// an error the second time. Addresses are checked as the daemon binds them.
// `gps auto`, `pps gpio auto` and `console auto` leave the device or pin to
// the board and HAT the daemon finds itself on (package board).
package config
