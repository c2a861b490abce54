// Package sensor is the node's sensor server (paper 4.4): an HTTP/1.1
// server on 127.0.0.1:33080 (DefaultAddr; configurable) that answers GET
// and HEAD only, any other method getting 405 with "Allow: GET, HEAD".
// Slivers share the node's network, so every sliver can read it too.
//
// A sensor is named by the first segment of the path; the rest of the path
// is the sensor's to interpret (/nodes/ip/name picks columns). Bodies are
// CSV (text/csv; header=present): a header line naming the columns, then
// one tuple per line. Snapshot sensors answer a table at once, with its
// Content-Length; HEAD gets the same headers and no body. Streaming
// sensors send the header line at once, then one tuple per line as it
// happens, until the client or the server closes the connection; a
// streaming variant of a sensor is named "<name>-stream". An unknown
// sensor, an unknown path of a sensor, and a sensor whose source this node
// lacks get 404 with a one-line reason. GET / lists the sensors as
// name,kind,schema,description.
//
// The sensors and their schemas:
//
//	/meminfo          name,kB          one row per /proc/meminfo line counted in kB
//	/load             load1            1-minute load average
//	/load5            load5            5-minute load average
//	/uptime           seconds          seconds since boot (/proc/uptime)
//	/cpus             cpus             CPUs online (/proc/stat)
//	/slices           slice,cpu_pct_1m,cpu_pct_5m,cpu_pct_15m,mem_bytes,procs,
//	                  tx_kbps_1m,tx_kbps_5m,tx_kbps_15m,rx_kbps_1m,rx_kbps_5m,rx_kbps_15m
//	                  per slice, like CoMon's slicestat: CPU as percent of
//	                  one CPU (above 100 on several CPUs), memory in bytes,
//	                  tasks now, kbit/s (1000 bits) sent and received, each
//	                  averaged over the last 1, 5 and 15 minutes of samples
//	                  (or over what there is, shortly after start)
//	/bandwidth/SLICE  slice,tx_kbps,rx_kbps,tx_bytes,rx_bytes
//	                  kbit/s over the last sample interval and the byte
//	                  counters; /bandwidth lists every slice
//	/bandwidth-stream/SLICE
//	                  time,slice,tx_kbps,rx_kbps   stream: one tuple per
//	                  sample interval (5 s)
//	/nodes/COL/...    the columns named, in that order, among id,name,ip,site
//	                  (all four if none): the system's nodes, from central
//	/ports            proto,port,slice,kind   the owner of each port
//	/connects         time,slice,proto,src_ip,src_port,dst_ip,dst_port
//	                  the 100 most recent connect calls, oldest first
//	/connects-stream  the same schema, streamed as the calls happen
//	/metrics          Prometheus text format (not CSV): node_load1/5/15,
//	                  node_memory_<Field>_bytes, orbis_node_uptime_seconds,
//	                  orbis_node_cpus, and per slice (label slice)
//	                  orbis_slice_cpu_seconds_total, orbis_slice_memory_bytes,
//	                  orbis_slice_procs, orbis_slice_tx_bytes_total,
//	                  orbis_slice_rx_bytes_total
//
// A person gets a page instead: GET / whose Accept names text/html (a
// browser's; */* does not count, so CSV clients are unaffected) answers an
// HTML page, under a Content-Security-Policy allowing no script and no
// external resource, with the node's load and memory now, inline SVG plots
// of the last History of the load average (sampled every 10 s into a ring
// of fixed size) and of the slices' CPU % and kbit/s sent and received
// (the 8 slices that sent the most, the others summed; from the samples
// above), and the /slices table.
//
// Times are Unix seconds with milliseconds. Rates are computed from the
// deltas of cumulative counters that the server samples every 5 s and
// keeps for 15 minutes (Config.SampleInterval, Config.History).
//
// Expensive sensors cache: /nodes answers from a node list fetched at most
// NodesMaxAge (5 min) ago, or, when the request carries ?max-age=N or
// "Cache-Control: max-age=N" (no-cache meaning 0), one no older than N
// seconds; the Age header says how old it is. Requests needing a fresh
// list share one fetch, so clients cannot make the node hammer central.
//
// Data come from interfaces (SliceSource, NodeSource, PortSource, Events)
// that the node plugs real sources into and tests fake: CgroupSlices reads
// the slivers' cgroups (plus a ByteCounter from the network layer),
// CentralNodes asks central's JSON API anonymously, and the port manager
// and connection tracking of the network layer will provide the others.
// A nil source makes its sensors answer 404 "not available on this node".
//
// Every sliver is treated as a hostile client. A client is whom its
// connections count against: the slice of the UID that owns the
// connecting socket (slivers share the node's network, so the kernel's
// sock_diag names the owner of a local peer; Config.SliceOfUID maps it to
// its slice), a host user, or the address of a remote client. The host's
// root is no client and is bounded by nothing, so the node's own tools
// always get in. The server bounds each client's open connections
// (Config.MaxConnsPerClient) and all clients' together (Config.MaxConns):
// more are closed as soon as they are accepted; each client's streams
// (Config.MaxStreamsPerClient) and all of them (Config.MaxStreams): more
// get 503; request headers (8 KiB, read within 5 s), idle keep-alive
// connections (closed after 30 s), request bodies (none accepted), each
// write (Config.WriteTimeout: a client that stops reading is dropped),
// and its memory: at most Config.MaxSlices slices of at most
// History/SampleInterval+1 samples, and a ring of 1024 connect calls that
// stream clients read at their own pace (a client that falls behind loses
// the oldest calls, the source never waits). So a slice that opens idle
// or half-sent connections without end holds its own share and no more.
package sensor
