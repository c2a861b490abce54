package audit

import (
	"strconv"
	"strings"
)

// tcpFlagNames are the TCP flags from the lowest bit up.
const tcpFlagNames = "FSRPAUEC"

// flagsString spells TCP flags as letters (FIN SYN RST PSH ACK URG ECE
// CWR), or "-" for none.
func flagsString(f uint8) string {
	if f == 0 {
		return "-"
	}
	var b strings.Builder
	for i := range 8 {
		if f&(1<<i) != 0 {
			b.WriteByte(tcpFlagNames[i])
		}
	}
	return b.String()
}

// count writes a number with thin groups of thousands: 1 234 567.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u2009")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// bytesString writes a byte count with a binary unit.
func bytesString(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}
