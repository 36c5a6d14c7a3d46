//go:build linux && (arm || 386 || mips || mipsle)

package discipline

// cLong is C's long, the type of struct timex's fields on this architecture.
type cLong = int32
