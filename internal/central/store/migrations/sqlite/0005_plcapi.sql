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

-- Power control units of a site's nodes (PLCAPI's PCU): kept for their
-- owners, never used. pcu_nodes says which port of a PCU a node is on.
CREATE TABLE pcus (
	pcu_id INTEGER PRIMARY KEY AUTOINCREMENT,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	hostname TEXT NOT NULL,
	ip TEXT NOT NULL,
	protocol TEXT NOT NULL,
	username TEXT NOT NULL,
	password TEXT NOT NULL,
	notes TEXT NOT NULL,
	model TEXT NOT NULL,
	last_updated INTEGER NOT NULL
);
CREATE INDEX pcus_site ON pcus (site_id);

CREATE TABLE pcu_nodes (
	pcu_id INTEGER NOT NULL REFERENCES pcus ON DELETE CASCADE,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	port INTEGER NOT NULL,
	PRIMARY KEY (pcu_id, node_id),
	UNIQUE (pcu_id, port)
);
CREATE INDEX pcu_nodes_node ON pcu_nodes (node_id);

-- Sites' postal addresses and their types (PLCAPI's Address and
-- AddressType).
CREATE TABLE address_types (
	address_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL
);

CREATE TABLE addresses (
	address_id INTEGER PRIMARY KEY AUTOINCREMENT,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	line1 TEXT NOT NULL,
	line2 TEXT NOT NULL,
	line3 TEXT NOT NULL,
	city TEXT NOT NULL,
	state TEXT NOT NULL,
	postalcode TEXT NOT NULL,
	country TEXT NOT NULL
);
CREATE INDEX addresses_site ON addresses (site_id);

CREATE TABLE address_address_types (
	address_id INTEGER NOT NULL REFERENCES addresses ON DELETE CASCADE,
	address_type_id INTEGER NOT NULL REFERENCES address_types ON DELETE CASCADE,
	PRIMARY KEY (address_id, address_type_id)
);
CREATE INDEX address_address_types_type ON address_address_types (address_type_id);
