// Package board holds facts about the boards and GPS receivers gpsntp runs
// with, and recognises the board it is running on. It runs nothing: cmd/
// reads these values to configure gps and pps.
//
// A [Board] gives the header UART device (the GPS) and what /dev/serial0
// is there, the default PPS pin, the label of the GPIO chip that carries
// the header pins (for pps.GPIOConfig), the config.txt lines that route
// the PL011 UART to GPIO 14/15, a status console device that does not
// fight the GPS with its config.txt lines, and the board's PPS timestamp
// latency (PPSOffsetNs, to pass to pps.Compensated). Profiles: Raspberry
// Pi Zero 2 W, 3B, 3B+, 3A+, 4B, 400, CM4, 5, 500, CM5. The first Pi and
// the Zero/Zero W (ARMv6) are not supported targets. [ConfigTxtSections]
// renders every board's lines into one config.txt with conditional
// sections ([pi4], [pi5], …); [ImageConfigTxt] is the SD image's.
//
// [ReadMachine] reads the model and a HAT's ID EEPROM strings from a
// device tree directory (/proc/device-tree); [Detect] maps the model to a
// profile, [DetectHAT] the EEPROM to a known GPS [HAT] (Adafruit Ultimate
// GPS, Uputronics GPS/RTC), whose PPS pin and receiver override the
// board's ([Board.WithHAT]); [ByName] looks a board up by the config
// file's name.
//
// A [Receiver] gives the factory baud rate, initialisation commands with
// their checksums computed here ([UBX] for u-blox binary frames, [NMEA] for
// $PMTK / $PCAS / $PUBX sentences), the usual delay from pulse to NMEA and
// the PPS edge. Profiles: u-blox M8, MTK3339 (Adafruit Ultimate GPS),
// Quectel L76K, generic NMEA. [ReceiverByName] looks one up.
//
// Sources: Raspberry Pi documentation (config.txt, UART configuration),
// the pps-gpio overlay README (default gpiopin=18), u-blox 8 / M8 receiver
// description and protocol specification (UBX framing, CFG-MSG, CFG-NAV5),
// MediaTek PMTK command packet manual (PMTK220/251/255/285/314), CASIC
// protocol (PCAS01/02/03) for the AT6558 in the L76K.
package board
