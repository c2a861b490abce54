-- Conf files linked to node groups (PLCAPI's AddConfFileToNodeGroup): a
-- node gets those of its groups, a node's own links winning.
CREATE TABLE conf_file_nodegroups (
	conf_file_id INTEGER NOT NULL REFERENCES conf_files ON DELETE CASCADE,
	nodegroup_id INTEGER NOT NULL REFERENCES node_groups ON DELETE CASCADE,
	PRIMARY KEY (conf_file_id, nodegroup_id)
);
CREATE INDEX conf_file_nodegroups_group ON conf_file_nodegroups (nodegroup_id);

-- Tags on interfaces (PLCAPI's InterfaceTag).
CREATE TABLE interface_tags (
	interface_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
	interface_id INTEGER NOT NULL REFERENCES interfaces ON DELETE CASCADE,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	value TEXT NOT NULL,
	UNIQUE (interface_id, tag_type_id)
);
CREATE INDEX interface_tags_type ON interface_tags (tag_type_id);

-- Links between two interfaces (PLCAPI's Ilink): a value of a tag type.
CREATE TABLE ilinks (
	ilink_id INTEGER PRIMARY KEY AUTOINCREMENT,
	tag_type_id INTEGER NOT NULL REFERENCES tag_types ON DELETE CASCADE,
	src_interface_id INTEGER NOT NULL REFERENCES interfaces ON DELETE CASCADE,
	dst_interface_id INTEGER NOT NULL REFERENCES interfaces ON DELETE CASCADE,
	value TEXT NOT NULL,
	UNIQUE (tag_type_id, src_interface_id, dst_interface_id)
);
CREATE INDEX ilinks_src ON ilinks (src_interface_id);
CREATE INDEX ilinks_dst ON ilinks (dst_interface_id);

-- A slice tag on the nodes of a node group (PLCAPI's
-- slice_tag.nodegroup_id): NULL is none.
ALTER TABLE slice_tags ADD COLUMN nodegroup_id INTEGER REFERENCES node_groups ON DELETE CASCADE;
CREATE INDEX slice_tags_nodegroup ON slice_tags (nodegroup_id);
