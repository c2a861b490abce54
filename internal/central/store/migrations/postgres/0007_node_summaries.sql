-- What each node's sensors said of it, as central last heard (one row a
-- node), and a day of history: one point a period (slot = time / period),
-- the last summary of that period; older points are deleted as new ones
-- come, so a node has at most a day's worth.
CREATE TABLE node_summaries (
	node_id BIGINT PRIMARY KEY REFERENCES nodes ON DELETE CASCADE,
	updated BIGINT NOT NULL,
	load DOUBLE PRECISION NOT NULL,
	mem_total BIGINT NOT NULL,
	free_mem BIGINT NOT NULL,
	disk_total BIGINT NOT NULL,
	free_disk BIGINT NOT NULL,
	slivers BIGINT NOT NULL,
	bw_in BIGINT NOT NULL,
	bw_out BIGINT NOT NULL,
	agent_version TEXT NOT NULL
);

CREATE TABLE node_history (
	node_id BIGINT NOT NULL REFERENCES nodes ON DELETE CASCADE,
	slot BIGINT NOT NULL,
	time BIGINT NOT NULL,
	load DOUBLE PRECISION NOT NULL,
	free_mem BIGINT NOT NULL,
	free_disk BIGINT NOT NULL,
	slivers BIGINT NOT NULL,
	bw_in BIGINT NOT NULL,
	bw_out BIGINT NOT NULL,
	PRIMARY KEY (node_id, slot)
);
