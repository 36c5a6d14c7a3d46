// Package mdns answers Multicast DNS (RFC 6762) queries for the board's
// own host name, HOSTNAME.local, so that a Pi plugged into a LAN is found
// without a shell: A and AAAA only, on UDP 5353, 224.0.0.251 and ff02::fb.
//
// The message logic (ParseQuery, Response, Announcement) is pure; the
// Responder owns the sockets, the per-interface rate limits (§6) and the
// announcements (§8.3). Interfaces and Shown read and choose the
// addresses a user is shown and that the responder gives out.
package mdns
