// Package restrict implements ntpd's access control as ntp.conf spells it:
// the `restrict` and `discard` directives (ntpsec "Access Control
// Commands and Options", ntp 4.2.8 ntp.conf(5)).
//
// A Table holds the rules; Lookup returns the flags of the most specific
// rule matching a source address (longest prefix, per address family), or
// of `restrict default` when nothing else matches. As in ntpd, a second
// `restrict` for the same address and mask adds its flags to the first.
// Lookup does not allocate.
//
// Lines that would silently do nothing are refused with the reason:
// `kod` without `limited`, an IPv4-mapped IPv6 prefix (IPv4 clients match
// IPv4 rules; the error gives the IPv4 spelling), `restrict source`
// (gpsntpd polls no upstream servers yet). Errors leave file:line and the
// directive's name to the caller.
package restrict
