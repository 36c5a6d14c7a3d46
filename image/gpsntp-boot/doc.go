// Command gpsntp-boot starts gpsntpd on the gokrazy image.
//
// gokrazy's root file system is read-only and its services take fixed
// command lines, so this launcher makes the choices a shell script would on
// a normal system, then replaces itself with gpsntpd (execve: gokrazy keeps
// supervising the same process):
//
//   - configuration: the first of -config's comma-separated files that
//     exists. The image passes /perm/gpsntp/ntp.conf (editable: /perm is the
//     ext4 partition that survives updates) before /etc/gpsntp/ntp.conf
//     (baked into the image);
//   - creates -state (/perm/gpsntp) for the drift file and the last known
//     time, when /perm is mounted;
//   - sends gpsntpd's status lines to -console (the HDMI console /dev/tty1
//     on a Pi) when that opens, else leaves them in gokrazy's log; with
//     -console-logs its logs too (the qemu test reads them on ttyS0).
//
// Flags after "--" are passed to gpsntpd.
package main
