// Command gpsntp-boot starts gpsntpd on the gokrazy image.
//
// gokrazy's root file system is read-only and its services take fixed
// command lines, so this launcher makes the choices a shell script would on
// a normal system, then replaces itself with gpsntpd (execve: gokrazy keeps
// supervising the same process):
//
//   - configuration: the first of -config's comma-separated entries that
//     exists. The image passes /perm/gpsntp/ntp.conf (an expert's override),
//     then boot:gpsntp.conf, the commented file on the FAT boot partition
//     that a user edits from any laptop (mounted read-only at -boot-mount;
//     it is partition 1 of /perm's disk), then /etc/gpsntp/ntp.conf (baked
//     into the image). The boot partition's file runs with gpsntpd
//     -config-fallback /perm/gpsntp/last-good.conf: a broken edit is
//     reported (alarm, console, log, file:line) and the last good one runs.
//     An update rewrites the boot partition without gpsntp.conf: the last
//     good copy is then put back there, so the user's settings survive;
//   - leap file: gpsntpd -leapfile-extra with -leapfile's entries (the
//     boot partition's leap-seconds.list, then /perm/gpsntp's). gpsntpd
//     uses one of them instead of the image's /etc/gpsntp/leap-seconds.list
//     when it parses and expires later: the image's cannot be updated
//     without a rebuild, and the user can copy a newer file from any laptop;
//   - creates -state (/perm/gpsntp) for the drift file and the last known
//     time, when /perm is mounted;
//   - sends gpsntpd's status lines to -console (the HDMI console /dev/tty1
//     on a Pi) when that opens, else leaves them in gokrazy's log; with
//     -console-logs its logs too (the qemu test reads them on ttyS0).
//
// Flags after "--" are passed to gpsntpd.
package main
