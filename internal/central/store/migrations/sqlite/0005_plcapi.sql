-- Keys an admin blacklisted (PLCAPI's BlacklistKey): only the SHA-256 of
-- the key's text is kept, and no one may add that key again.
CREATE TABLE key_blacklist (
	key_hash TEXT PRIMARY KEY
);

-- Network interfaces of nodes (PLCAPI's Interface): kept and returned,
-- not used by the nodes. Empty strings stand for unset addresses.
CREATE TABLE interfaces (
	interface_id INTEGER PRIMARY KEY AUTOINCREMENT,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	is_primary INTEGER NOT NULL,
	type TEXT NOT NULL,
	method TEXT NOT NULL,
	ip TEXT NOT NULL,
	mac TEXT NOT NULL,
	gateway TEXT NOT NULL,
	network TEXT NOT NULL,
	broadcast TEXT NOT NULL,
	netmask TEXT NOT NULL,
	dns1 TEXT NOT NULL,
	dns2 TEXT NOT NULL,
	bwlimit INTEGER,
	hostname TEXT NOT NULL,
	last_updated INTEGER NOT NULL
);
CREATE INDEX interfaces_node ON interfaces (node_id);

-- A node's model (PLCAPI's Node.model).
ALTER TABLE nodes ADD COLUMN model TEXT NOT NULL DEFAULT '';
