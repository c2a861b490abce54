// Package rawsock is the node's safe raw socket service (paper section
// 4.3, issue 5 item 4): unprivileged slivers send and receive raw IP
// packets bound to a TCP or UDP port their slice owns, or to an ICMP echo
// identifier, and can never spoof.
//
// Design. A root service listens on a Unix SOCK_SEQPACKET socket that is
// bind-mounted into every sliver; SO_PEERCRED of each connection gives the
// host UID, hence the slice. One connection is one raw socket:
//
//   - bind: refused unless the slice owns the port (the port manager's
//     answer) or, for ICMP, the identifier is free (first come);
//   - send: the packet (whole, or a segment the service wraps in an IP
//     header with the node's source address) goes through Check and then
//     out on an IPPROTO_RAW socket that the service made under the
//     sliver's UID (fsuid), so the node's per-slice tagging, shaping and
//     auditing see the slice's UID on it;
//   - receive: an AF_PACKET socket with a locked classic BPF filter for
//     the binding captures its packets, the service checks each again
//     (Wants, and that it is addressed to the node), queues it (bounded:
//     drops are counted) and relays it on the Unix socket; an nftables
//     input rule drops the bound TCP/UDP port from the kernel's stack
//     while bound, so the kernel neither answers (RST, port unreachable)
//     nor delivers those packets.
//
// A sniffer socket (bind with wire.FlagSniff) gets copies of every packet
// the node sends or receives on a port its slice owns (SniffFilter keeps
// both PACKET_HOST and PACKET_OUTGOING), takes the port from no one, and
// cannot send; plabdump (cmd/plabdump) writes them as pcap.
//
// Why relay rather than hand the sliver file descriptors (the other two
// designs measured in MECHANISMS.md): a passed AF_PACKET socket can send
// forged frames, and a passed raw socket relies on SO_MARK and nft rules
// being right on every path; here no privileged descriptor ever leaves
// the service, every outgoing byte passes one checker that is fuzzed, and
// what a sliver can do is exactly the documented protocol. The cost is a
// copy and a Unix-socket hop per packet, which measurement tools tolerate.
//
// The wire protocol is in docs/rawsock.md; the Go client, with ping and
// traceroute, is api/rawsock.
package rawsock
