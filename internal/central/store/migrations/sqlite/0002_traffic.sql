-- The traffic auditor's archive (paper 4.4.3): the rows nodes push, and
-- the IDs of the batches they came in, so that a batch pushed again is
-- not counted twice. No foreign keys: a deleted node's traffic stays
-- accountable for the retention period. Times are Unix seconds.
CREATE TABLE traffic_batches (
	node_id BIGINT NOT NULL,
	batch_id TEXT NOT NULL,
	received BIGINT NOT NULL,
	PRIMARY KEY (node_id, batch_id)
);
CREATE INDEX traffic_batches_received ON traffic_batches (received);

CREATE TABLE traffic (
	id INTEGER PRIMARY KEY,
	dst TEXT NOT NULL,
	minute BIGINT NOT NULL,
	node TEXT NOT NULL,
	slice TEXT NOT NULL,
	proto INTEGER NOT NULL,
	dport INTEGER NOT NULL,
	tcp_flags INTEGER NOT NULL,
	packets BIGINT NOT NULL,
	bytes BIGINT NOT NULL
);
CREATE INDEX traffic_dst_minute ON traffic (dst, minute);
CREATE INDEX traffic_minute ON traffic (minute);
