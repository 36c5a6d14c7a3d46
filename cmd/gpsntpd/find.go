package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/internal/mdns"
)

// findEvery is how often the finder reads the interfaces: a DHCP lease
// that changes shows within this, without a netlink subscription.
const findEvery = 5 * time.Second

// defaultHostLabel is the mDNS name's label when the host name is not a
// usable DNS label (empty, "localhost", odd characters): the image's.
const defaultHostLabel = "gpsntp"

// finder tells a user where the board is: its LAN addresses, read every
// findEvery and logged when they change, and with `mdns on` the mDNS
// responder that answers for HOSTNAME.local. Nothing in it is fatal: a
// board without mDNS is still shown by address.
type finder struct {
	log    *slog.Logger
	read   func() ([]mdns.Interface, error)
	listen []string // the NTP server's addresses, for the log line
	resp   *mdns.Responder
	name   string // "gpsntp.local" when mDNS answers, else ""

	shown    atomic.Pointer[[]string]
	lastErr  string
	lastLogd []string
}

// openFinder reads the addresses once (so the first status and the log
// show them) and, when cfg says `mdns on`, opens the responder; a port
// 5353 that is taken (avahi-daemon on a .deb) is logged once and mDNS
// left off. listen is the NTP server's addresses.
func openFinder(cfg config.Config, listen []string, log *slog.Logger) *finder {
	f := &finder{log: log, read: mdns.Interfaces, listen: listen}
	if cfg.MDNS {
		label := hostLabel(log)
		r, err := mdns.Listen(mdns.Config{Name: label, Log: log})
		if err != nil {
			log.Warn("mDNS off: "+mdnsOffReason(err), "name", label+".local", "err", err)
		} else {
			f.resp, f.name = r, r.Name()
		}
	}
	f.refresh()
	return f
}

// hostLabel is the host name's first label, as mDNS answers for it.
func hostLabel(log *slog.Logger) string {
	h, err := os.Hostname()
	label, ok := mdns.HostLabel(h)
	if err != nil || !ok || label == "localhost" {
		log.Warn("mDNS: host name unusable, answering as "+defaultHostLabel+".local", "hostname", h, "err", err)
		return defaultHostLabel
	}
	return label
}

// mdnsOffReason says why the responder could not be had, in a user's
// words.
func mdnsOffReason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "UDP port 5353 is taken (avahi-daemon or another mDNS responder answers for this host already)"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "not allowed to open UDP port 5353"
	}
	return "cannot open UDP port 5353"
}

// tasks are the finder's long-running parts: the address watch, and the
// responder when mDNS is on.
func (f *finder) tasks() []task {
	t := []task{{"addresses", f.run}}
	if f.resp != nil {
		t = append(t, task{"mdns", f.resp.Run})
	}
	return t
}

// Close releases the responder's sockets.
func (f *finder) Close() error {
	if f.resp != nil {
		return f.resp.Close()
	}
	return nil
}

// run reads the addresses every findEvery until ctx is done.
func (f *finder) run(ctx context.Context) error {
	t := time.NewTicker(findEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.refresh()
		}
	}
}

// refresh reads the interfaces, publishes the addresses, hands them to
// the responder and logs a change (an unreadable list once per cause).
func (f *finder) refresh() {
	ifs, err := f.read()
	if err != nil {
		if err.Error() != f.lastErr {
			f.log.Warn("cannot read the network addresses", "err", err)
			f.lastErr = err.Error()
		}
		return
	}
	f.lastErr = ""
	var shown []string
	for _, a := range mdns.Shown(ifs) {
		shown = append(shown, a.String())
	}
	f.shown.Store(&shown)
	if f.resp != nil {
		f.resp.Update(ifs)
	}
	if f.lastLogd != nil && slices.Equal(shown, f.lastLogd) {
		return
	}
	f.lastLogd = append([]string{}, shown...)
	if len(shown) == 0 {
		f.log.Warn("no network address yet: plug in Ethernet (the board needs DHCP)")
		return
	}
	args := []any{"addresses", strings.Join(shown, ", ")}
	if f.name != "" {
		args = append(args, "mdns", f.name)
	}
	if ntp := ctl.NTPAddr(shown, f.listen); ntp != "" {
		args = append(args, "ntp", ntp)
	}
	f.log.Info("network addresses", args...)
}

// status is what the collector shows: the addresses and the mDNS name
// (none from a nil finder: an appliance built without one).
func (f *finder) status() (addrs []string, mdnsName string) {
	if f == nil {
		return nil, ""
	}
	if p := f.shown.Load(); p != nil {
		addrs = *p
	}
	return addrs, f.name
}

// short is the first address for the one-line status on stdout (HDMI),
// "-" when there is none.
func (f *finder) short() string {
	if a, _ := f.status(); len(a) > 0 {
		return a[0]
	}
	return "-"
}
