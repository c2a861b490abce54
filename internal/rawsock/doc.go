// Package rawsock is the node's safe raw socket service (paper section
// 4.3, issue 5 item 4): unprivileged slivers send and receive raw IP
// packets bound to a TCP or UDP port their slice owns, or to an ICMP echo
// identifier, and can never spoof.
//
// Design. A root service listens on a Unix SOCK_SEQPACKET socket that is
// bind-mounted into every sliver; SO_PEERCRED of each connection gives the
// host UID, hence the slice. One connection is one raw socket:
//
//   - bind: refused unless the slice holds the port alone (the port
//     manager's portmgr.Hold: reserved for it or bound by its socket on
//     the wildcard or a node address, and used by nobody else's socket on
//     any address) or, for ICMP, the identifier is free (first come). The
//     binding's addresses are where the slice holds the port. The port
//     manager then holds the port for the slice (Config.Claim) until the
//     binding ends, so that no one else can bind it, nor get it as an
//     ephemeral port, meanwhile; the holders are read again after that
//     claim, to catch a socket bound between the two. A recheck every
//     second hangs up on a binding whose slice no longer holds them
//     (its own socket closed, say): the claim closes the window until then.
//     A reservation of the port for another slice revokes the claim: the
//     binding is hung up on and released before the reservation returns;
//   - send: the packet (whole, or a segment the service wraps in an IP
//     header with the node's source address) goes through Check and then
//     out on an IPPROTO_RAW socket that the service made under the
//     sliver's UID (fsuid), so the node's per-slice tagging, shaping and
//     auditing see the slice's UID on it;
//   - receive: an AF_PACKET socket with a locked classic BPF filter for
//     the binding captures its packets, the service checks each again
//     (Wants, and that it is addressed to one of the binding's
//     addresses), queues it (bounded in packets and bytes: drops are
//     counted) and relays it on the Unix socket; an nftables input rule
//     drops the bound TCP/UDP port on the binding's addresses (protocol .
//     address . port) from the kernel's stack while bound, so the kernel
//     neither answers (RST, port unreachable) nor delivers those packets,
//     and the port's flows on other addresses are untouched.
//
// A sniffer socket (bind with wire.FlagSniff) gets copies of the packets
// whose local side is its binding, a port its slice holds alone on the
// binding's addresses: received ones to it, sent ones from it (Sniffs;
// SniffFilter keeps PACKET_HOST and PACKET_OUTGOING by the port on the
// local side), never a flow whose remote side has the port number (other
// slices', the node agent's). It takes the port from no one, and cannot
// send; plabdump (cmd/plabdump) writes them as pcap.
//
// Bounds (Limits): connections per slice and in all (peercred.Limited,
// the total kept within half of RLIMIT_NOFILE), bound sockets per slice,
// and each socket's queue in packets and bytes, so that no slice can
// exhaust the node agent's file descriptors or memory. A connection the
// service closes of its own accord gets a wire.MsgHangup saying why.
//
// Why relay rather than hand the sliver file descriptors (a passed
// AF_PACKET socket, or a raw socket limited by SO_MARK and nft rules,
// both measured against the relay): a passed AF_PACKET socket can send
// forged frames, and a passed raw socket relies on SO_MARK and nft rules
// being right on every path; here no privileged descriptor ever leaves
// the service, every outgoing byte passes one checker that is fuzzed, and
// what a sliver can do is exactly the documented protocol. The cost is a
// copy and a Unix-socket hop per packet, which measurement tools tolerate.
//
// The wire protocol is in docs/rawsock.md; the Go client, with ping and
// traceroute, is api/rawsock.
package rawsock
