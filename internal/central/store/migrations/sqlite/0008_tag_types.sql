-- PLCAPI's tag types, and the roles that may set tags of each. contract
-- marks the types the resource table declares (central writes them at
-- start from it); the others are an admin's.
CREATE TABLE tag_types (
	tag_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
	tagname TEXT NOT NULL UNIQUE,
	category TEXT NOT NULL,
	description TEXT NOT NULL,
	contract INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tag_type_roles (
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	role_id INTEGER NOT NULL,
	PRIMARY KEY (tag_type_id, role_id)
);

-- Tags on nodes (PLCAPI's NodeTag): one value of a tag type a node.
CREATE TABLE node_tags (
	node_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	value TEXT NOT NULL,
	UNIQUE (node_id, tag_type_id)
);
CREATE INDEX node_tags_type ON node_tags (tag_type_id);

-- Node groups (PLCAPI's NodeGroup): the nodes whose tag of a type has a
-- value.
CREATE TABLE node_groups (
	nodegroup_id INTEGER PRIMARY KEY AUTOINCREMENT,
	groupname TEXT NOT NULL UNIQUE,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	value TEXT NOT NULL
);

-- Tags on sites (PLCAPI's SiteTag).
CREATE TABLE site_tags (
	site_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
	site_id INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	value TEXT NOT NULL,
	UNIQUE (site_id, tag_type_id)
);
CREATE INDEX site_tags_type ON site_tags (tag_type_id);

-- Tags on persons (PLCAPI's PersonTag).
CREATE TABLE person_tags (
	person_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
	person_id INTEGER NOT NULL REFERENCES persons ON DELETE CASCADE,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	value TEXT NOT NULL,
	UNIQUE (person_id, tag_type_id)
);
CREATE INDEX person_tags_type ON person_tags (tag_type_id);
