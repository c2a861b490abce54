-- PLCAPI's initscripts (a slice's initscript tag names one) and
-- configuration files (installed on every node, or on the nodes linked).
CREATE TABLE initscripts (
	initscript_id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	enabled INTEGER NOT NULL DEFAULT 1,
	script TEXT NOT NULL
);

CREATE TABLE conf_files (
	conf_file_id INTEGER PRIMARY KEY AUTOINCREMENT,
	enabled INTEGER NOT NULL DEFAULT 1,
	source TEXT NOT NULL,
	dest TEXT NOT NULL,
	file_permissions TEXT NOT NULL DEFAULT '0644',
	file_owner TEXT NOT NULL DEFAULT 'root',
	file_group TEXT NOT NULL DEFAULT 'root',
	preinstall_cmd TEXT NOT NULL DEFAULT '',
	postinstall_cmd TEXT NOT NULL DEFAULT '',
	error_cmd TEXT NOT NULL DEFAULT '',
	ignore_cmd_errors INTEGER NOT NULL DEFAULT 0,
	always_update INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE conf_file_nodes (
	conf_file_id INTEGER NOT NULL REFERENCES conf_files ON DELETE CASCADE,
	node_id INTEGER NOT NULL REFERENCES nodes ON DELETE CASCADE,
	PRIMARY KEY (conf_file_id, node_id)
);
CREATE INDEX conf_file_nodes_node ON conf_file_nodes (node_id);

-- A person's primary site (SetPersonPrimarySite): listed first in site_ids.
ALTER TABLE person_sites ADD COLUMN is_primary INTEGER NOT NULL DEFAULT 0;
