-- Central's records. Times are Unix seconds. Booleans are 0/1.
CREATE TABLE sites (
	site_id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL,
	abbreviated_name TEXT NOT NULL,
	login_base TEXT NOT NULL,
	is_public INTEGER NOT NULL,
	enabled INTEGER NOT NULL,
	latitude REAL,
	longitude REAL,
	url TEXT NOT NULL,
	max_slices INTEGER NOT NULL,
	max_slivers INTEGER NOT NULL,
	shares INTEGER NOT NULL,
	date_created INTEGER NOT NULL,
	last_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX sites_login_base ON sites (login_base);

CREATE TABLE persons (
	person_id INTEGER PRIMARY KEY AUTOINCREMENT,
	first_name TEXT NOT NULL,
	last_name TEXT NOT NULL,
	email TEXT NOT NULL,
	phone TEXT NOT NULL,
	url TEXT NOT NULL,
	bio TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	password_hash TEXT NOT NULL,
	date_created INTEGER NOT NULL,
	last_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX persons_email ON persons (lower(email));

CREATE TABLE person_sites (
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	PRIMARY KEY (person_id, site_id)
);
CREATE INDEX person_sites_site ON person_sites (site_id);

CREATE TABLE person_roles (
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	role_id INTEGER NOT NULL,
	PRIMARY KEY (person_id, role_id)
);

CREATE TABLE keys (
	key_id INTEGER PRIMARY KEY AUTOINCREMENT,
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	key_type TEXT NOT NULL,
	key TEXT NOT NULL
);
CREATE INDEX keys_person ON keys (person_id);

CREATE TABLE nodes (
	node_id INTEGER PRIMARY KEY AUTOINCREMENT,
	hostname TEXT NOT NULL,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	node_type TEXT NOT NULL,
	boot_state TEXT NOT NULL,
	version TEXT NOT NULL,
	ip TEXT NOT NULL,
	last_contact INTEGER NOT NULL,
	secret TEXT NOT NULL DEFAULT '',
	date_created INTEGER NOT NULL,
	last_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX nodes_hostname ON nodes (lower(hostname));
CREATE INDEX nodes_site ON nodes (site_id);

CREATE TABLE node_tokens (
	token_hash TEXT PRIMARY KEY,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	expires INTEGER NOT NULL
);
CREATE INDEX node_tokens_node ON node_tokens (node_id);

-- node_bumps is insert-only, so concurrent bumps never conflict: a node's
-- version is the sum of n over its rows. The pruner folds a node's rows
-- into one.
CREATE TABLE node_bumps (
	bump_id INTEGER PRIMARY KEY AUTOINCREMENT,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	n INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX node_bumps_node ON node_bumps (node_id);

CREATE TABLE slices (
	slice_id INTEGER PRIMARY KEY AUTOINCREMENT,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	name TEXT NOT NULL,
	instantiation TEXT NOT NULL,
	url TEXT NOT NULL,
	description TEXT NOT NULL,
	max_nodes INTEGER NOT NULL,
	creator_person_id INTEGER NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	shares INTEGER NOT NULL
);
CREATE UNIQUE INDEX slices_name ON slices (name);
CREATE INDEX slices_site ON slices (site_id);

CREATE TABLE slice_nodes (
	slice_id INTEGER NOT NULL REFERENCES slices ON DELETE CASCADE,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	PRIMARY KEY (slice_id, node_id)
);
CREATE INDEX slice_nodes_node ON slice_nodes (node_id);

CREATE TABLE slice_persons (
	slice_id INTEGER NOT NULL REFERENCES slices ON DELETE CASCADE,
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	PRIMARY KEY (slice_id, person_id)
);
CREATE INDEX slice_persons_person ON slice_persons (person_id);

CREATE TABLE slice_tags (
	slice_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
	slice_id INTEGER NOT NULL REFERENCES slices ON DELETE CASCADE,
	tagname TEXT NOT NULL,
	value TEXT NOT NULL,
	node_id INTEGER REFERENCES nodes ON DELETE CASCADE
);
CREATE INDEX slice_tags_slice ON slice_tags (slice_id);
CREATE INDEX slice_tags_node ON slice_tags (node_id);

CREATE TABLE leases (
	lease_id INTEGER PRIMARY KEY AUTOINCREMENT,
	t_from INTEGER NOT NULL,
	t_until INTEGER NOT NULL,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	slice_id INTEGER NOT NULL REFERENCES slices ON DELETE CASCADE
);
CREATE INDEX leases_node ON leases (node_id);
CREATE INDEX leases_slice ON leases (slice_id);

CREATE TABLE sessions (
	key_hash TEXT PRIMARY KEY,
	person_id INTEGER REFERENCES persons ON DELETE CASCADE,
	node_id INTEGER REFERENCES nodes ON DELETE CASCADE,
	expires INTEGER NOT NULL
);
CREATE INDEX sessions_person ON sessions (person_id);
CREATE INDEX sessions_node ON sessions (node_id);

CREATE TABLE api_tokens (
	token_hash TEXT PRIMARY KEY,
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	name TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE INDEX api_tokens_person ON api_tokens (person_id);

CREATE TABLE sliver_reports (
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	name TEXT NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (node_id, name)
);

-- events is the append-only change log: no statement deletes from it.
CREATE TABLE events (
	event_id INTEGER PRIMARY KEY AUTOINCREMENT,
	time INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id INTEGER NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX events_object ON events (object_type, object_id);
