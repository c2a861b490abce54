// Package loadtest holds, in its tests only, the traffic auditor's load
// test and throughput benchmarks (issue 6): two network namespaces joined
// by a veth, the node's tagger, administrative sniffer stream and auditor
// in the sending one, and slivers' traffic from processes running with a
// slice's host UID. The load test checks that at the highest packet rate
// this machine sustains the auditor keeps every record or counts, and
// shows, exactly how many it lost; the benchmarks measure what the
// auditor costs the node's throughput.
package loadtest
