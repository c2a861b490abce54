-- What each node's sensors said of it, as central last heard (one row a
-- node), and a day of history: one point a period (slot = time / period),
-- the last summary of that period; older points are deleted as new ones
-- come, so a node has at most a day's worth.
CREATE TABLE node_summaries (
	node_id INTEGER PRIMARY KEY REFERENCES nodes ON DELETE CASCADE,
	updated INTEGER NOT NULL,
	load REAL NOT NULL,
	mem_total INTEGER NOT NULL,
	free_mem INTEGER NOT NULL,
	disk_total INTEGER NOT NULL,
	free_disk INTEGER NOT NULL,
	slivers INTEGER NOT NULL,
	bw_in INTEGER NOT NULL,
	bw_out INTEGER NOT NULL,
	agent_version TEXT NOT NULL
);

CREATE TABLE node_history (
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	slot INTEGER NOT NULL,
	time INTEGER NOT NULL,
	load REAL NOT NULL,
	free_mem INTEGER NOT NULL,
	free_disk INTEGER NOT NULL,
	slivers INTEGER NOT NULL,
	bw_in INTEGER NOT NULL,
	bw_out INTEGER NOT NULL,
	PRIMARY KEY (node_id, slot)
);
