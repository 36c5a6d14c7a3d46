// Package board holds facts about the boards and GPS receivers gpsntp runs
// with, and recognises the board it is running on. It runs nothing: cmd/
// reads these values to configure gps and pps.
//
// A [Board] gives the header UART device, the default PPS pin, the label of
// the GPIO chip that carries the header pins (for pps.GPIOConfig), the
// config.txt lines that route the PL011 UART to GPIO 14/15 and load
// pps-gpio, and the board's PPS timestamp latency (PPSOffsetNs, to pass to
// pps.Compensated). Profiles: Raspberry Pi Zero 2 W, 3B, 3B+, 3A+, 4B, 400,
// CM4, 5, 500, CM5. The first Pi and the Zero/Zero W (ARMv6) are not
// supported targets.
//
// [Detect] maps the device tree's model string (/proc/device-tree/model,
// read with [ReadModel]) to a profile; [ByName] looks one up by the config
// file's name.
//
// A [Receiver] gives the factory baud rate, initialisation commands with
// their checksums computed here ([UBX] for u-blox binary frames, [NMEA] for
// $PMTK / $PCAS / $PUBX sentences), the usual delay from pulse to NMEA, the
// PPS edge, and the PPS pin of the receiver's HAT where it is sold as one
// ([PPSPin] combines that with the board default). Profiles: u-blox M8,
// MTK3339 (Adafruit Ultimate GPS), Quectel L76K, generic NMEA.
// [ReceiverByName] looks one up.
//
// Sources: Raspberry Pi documentation (config.txt, UART configuration),
// the pps-gpio overlay README (default gpiopin=18), u-blox 8 / M8 receiver
// description and protocol specification (UBX framing, CFG-MSG, CFG-NAV5),
// MediaTek PMTK command packet manual (PMTK220/251/255/285/314), CASIC
// protocol (PCAS01/02/03) for the AT6558 in the L76K.
package board
