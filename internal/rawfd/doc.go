// Package rawfd gives slivers real raw sockets, confined by the kernel.
//
// A sliver's root holds no CAP_NET_RAW in the node's network namespace, so
// its socket(AF_INET or AF_INET6, SOCK_RAW, proto) cannot succeed on its
// own. With Config.RawSockets (internal/sandbox) the sliver's seccomp
// filter hands each such call to a listener the node agent owns; the
// Server reads the notification, makes the socket itself and installs it
// in the caller as the call's result (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND). The program sees an ordinary raw socket:
// iputils, traceroute, mtr, hping3 and scapy run unchanged, and packets
// go straight between the program and the kernel, with no relay.
//
// The socket is the slice's: it is owned by the slice's first host UID
// (so the tagger shapes and counts its packets as the slice's) and
// carries the mark RawMark(index). What it may do is enforced by the
// kernel and the agent, in three places that the slice cannot touch:
//
//   - Sending: the nftables table (Config.Table) drops every packet with
//     a raw socket mark whose source is not one of the node's addresses
//     (sets kept in step with the kernel's address events),
//     that is an IPv4 fragment or carries a source route (LSRR, SSRR), an
//     IPv6 packet with a fragment or routing header, a TCP or UDP segment
//     from a port the slice does not hold alone (Config.Ports, kept in
//     step every Config.SyncEvery and at a socket() after the slice's own
//     sockets bound a new port, over netlink), an
//     ICMP or ICMPv6 echo request or reply that joins a conntrack flow
//     not of the slice's or uses an identifier an ICMP datagram socket or
//     the node pings with, or anything else (ICMP errors, redirects,
//     timestamps, other protocols). The rules look at the packet the
//     kernel is about to send, so IP_HDRINCL packets pass the same checks.
//   - Receiving: each socket has a classic BPF filter, attached and
//     locked (SO_ATTACH_FILTER, SO_LOCK_FILTER) before the slice gets the
//     socket, that admits only packets whose mark is the slice's
//     netfilter.SocketMark. The table's input chain gives a packet that
//     mark when its connection is the slice's (replies to the slice's own
//     packets, raw or not, and ICMP errors about them, which conntrack
//     relates to the flow) or when it goes to a TCP or UDP port the slice
//     holds alone and the agent claimed (Config.Claim; a node without
//     Claim gives raw and packet sockets no TCP or UDP port at all). A
//     raw socket therefore never sees another slice's packets nor the
//     node's.
//   - The error queue: setsockopt(IP_RECVERR or IPV6_RECVERR), which would
//     queue other slices' ICMP errors on a raw socket past its filter,
//     reaches the Server too; it does nothing on a raw socket and sets the
//     option itself on any other.
//
// Packet sockets: tools such as hping3 (libpcap) and scapy send through
// a raw socket and receive through a packet socket. A sliver's
// socket(AF_PACKET) reaches the Server the same way and gets a socket
// that receives only the slice's own traffic and cannot send
// (packet_linux.go): an eBPF socket filter, locked, that reads each frame
// and admits, when its local address is the node's, the slice's ports,
// the echo flows its raw sockets started (which the agent's own packet
// socket learns) and the ICMP errors about them; a mark that an nftables egress chain on
// every device drops; and setsockopt(SOL_PACKET) checked by the Server.
// Kernels without the egress hook (before 5.16) or the filter keep
// refusing packet sockets, as the Server says when it starts.
//
// A slice holds at most Config.MaxPerSlice raw and packet sockets at a
// time, Config.MaxPacketPerSlice of them packet sockets; a socket() past
// either fails with EMFILE. Kernels before 5.14 lack the
// one-step install: there the node keeps the raw socket service
// (internal/rawsock) alone and says so when it starts.
package rawfd
