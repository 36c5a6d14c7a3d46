// Command gpsntpctl is the gpsntp operator's tool.
//
//	gpsntpctl decode [-date YYYY-MM-DD] FILE...
//	gpsntpctl status|sats|sources|clients|log [-json] [-socket PATH]
//
// The views come from a running gpsntpd over its control socket (default
// /run/gpsntp/ctl.sock, or $XDG_RUNTIME_DIR/gpsntp/ctl.sock for gpsntpd
// -sim) and look as on the daemon's console. Further subcommands (simulate,
// probe) are added to the table in main.go.
package main
