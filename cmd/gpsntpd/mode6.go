package main

import (
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// controlSource is what mode 6 (ntpq) reports, from the status snapshot.
// Not implemented yet: nil drops mode 6.
func controlSource(get func() *ctl.Snapshot) ntpserve.ControlSource { return nil }
