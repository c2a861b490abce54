package api

import "strconv"

// ProtoName names an IP protocol number as tcpdump does (icmp, tcp, udp,
// icmp6, sctp), or writes its number: the one spelling of the traffic
// auditor's pages and the admin service's packet watch.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmp6"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}
