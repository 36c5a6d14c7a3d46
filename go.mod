module github.com/gpsntp/gpsntp

go 1.26.0

require (
	github.com/adrianmo/go-nmea v1.10.0 // indirect
	github.com/beevik/ntp v1.6.0 // indirect
	github.com/creack/pty v1.1.24 // indirect
	go.bug.st/serial v1.8.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
