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
