// Package audit is the traffic auditor of one node (paper 4.4.3): it reads
// the administrative sniffer stream of every outgoing packet, tagged with
// the sending slice, and keeps the last hour queryable on the node so that
// anyone who saw odd traffic from the node can find who sent it.
//
// The Store keeps, within a memory bound fixed when it is made (its tables
// are allocated once and never grow), per (minute, slice, destination,
// protocol, destination port) counters of packets and bytes with the union
// of TCP flags, and a ring of the most recent raw records. When the bound
// is reached the oldest rows go first; every packet lost — dropped by the
// sniffer stream, or whose row the bound evicted before its minute was
// archived — is counted, and the node's pages show the counts.
//
// Each minute, once closed, is handed to an Archiver, which pushes it in
// batches to central through the Archive interface and spools batches to a
// bounded directory while central is unreachable.
//
// Handler serves the node's pages (GET and HEAD only): / sums up the last
// hour by slice and by destination with a plot of traffic by slice, and
// /dst/<addr> lists the slices that sent to an address with their
// descriptions and mail links to their users. CentralHandler serves
// central's page over the archive: which slices sent traffic to an address
// between two times, as HTML or JSON.
package audit
