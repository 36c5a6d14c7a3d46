// Package panel is the appliance's front panel: a status LED and an
// optional 128×64 SSD1306 OLED display, through periph.io (conn/v3,
// host/v3 gpioioctl and sysfs I²C, devices/v3 ssd1306). Both are optional
// hardware: [Open] never fails for a missing part, it raises an alarm
// ([Panel.Alarms]) and looks again every 30 s; periph's host drivers are
// initialised only when `led gpio` asks for a GPIO line.
//
// The LED's [Pattern] is a pure function of the daemon's status
// ([PatternFor]): steady on when synchronised to PPS, a slow blink (1 s
// on, 1 s off) when synchronised otherwise (GPS time only, holdover), a
// fast blink (4 Hz) when unsynchronised, and two short flashes every
// 1.5 s while any alarm is raised. [LED] writes the pin only when the
// level changes. `led act` drives the board's ACT LED through the kernel
// LED class (trigger none, then brightness).
//
// The display shows [Lines] (UTC time, state and refid, offset, jitter,
// satellites used/seen, NTP requests per second, the board's address, the
// first alarm) in the package's own 5×7 font ([Render]), redrawn each
// second; periph's driver sends only the rectangle that changed. With a
// night (`night 22-07`) it is switched off for those hours ([Asleep]).
//
// PPS edges are not read here: see package pps for why its own reader
// keeps the kernel's timestamps.
package panel
