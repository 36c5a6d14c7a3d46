//go:build !linux

package poolcheck

import "net"

// enableTimestamps: no kernel receive timestamps off Linux.
func enableTimestamps(*net.UDPConn) bool { return false }

// rxTimestamp: none; the reader takes user-space times.
func rxTimestamp([]byte) int64 { return 0 }
