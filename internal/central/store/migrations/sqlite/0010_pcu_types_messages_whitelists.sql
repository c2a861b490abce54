-- PCU models (PLCAPI's PCUType): kept for the tools that list them,
-- never used to power a node. A model names one type.
CREATE TABLE pcu_types (
	pcu_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
	model TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL
);

-- The ports and protocols of a PCU model (PLCAPI's PCUProtocolType).
CREATE TABLE pcu_protocol_types (
	pcu_protocol_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
	pcu_type_id INTEGER NOT NULL REFERENCES pcu_types ON DELETE CASCADE,
	port INTEGER NOT NULL,
	protocol TEXT NOT NULL,
	supported INTEGER NOT NULL
);
CREATE INDEX pcu_protocol_types_type ON pcu_protocol_types (pcu_type_id);

-- Mail templates (PLCAPI's Message), named by their message_id.
CREATE TABLE messages (
	message_id TEXT PRIMARY KEY,
	subject TEXT NOT NULL,
	template TEXT NOT NULL,
	enabled INTEGER NOT NULL
);

-- A node's slice whitelist (PLCAPI's node_slice_whitelist): a node with
-- one takes only those slices.
CREATE TABLE node_slice_whitelist (
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	slice_id INTEGER NOT NULL REFERENCES slices ON DELETE CASCADE,
	PRIMARY KEY (node_id, slice_id)
);
CREATE INDEX node_slice_whitelist_slice ON node_slice_whitelist (slice_id);
