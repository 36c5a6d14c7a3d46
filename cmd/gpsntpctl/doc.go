// Command gpsntpctl is the gpsntp operator's tool.
//
//	gpsntpctl decode [-date YYYY-MM-DD] FILE...
//	gpsntpctl status|sats|sources|clients|log [-json] [-socket PATH]
//
// The views come from a running gpsntpd over its control socket (default
// /run/gpsntp/ctl.sock, or $XDG_RUNTIME_DIR/gpsntp/ctl.sock for gpsntpd
// -sim) and look as on the daemon's console. A socket that refuses the
// user (0660, the daemon's group: gpsntp in the .deb) gets a second line
// naming that group and saying to use sudo or join it and log in again
// (access.go). Further subcommands (simulate,
// probe) are added to the table in main.go.
package main
