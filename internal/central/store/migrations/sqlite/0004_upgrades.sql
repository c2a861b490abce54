-- Node upgrades, kept in the database so that every central process on
-- it serves the same builds and signs with the same key.
--
-- upgrade_key holds the one Ed25519 signing key (PKCS#8 PEM): made, or
-- imported from an older central's data directory, by whichever process
-- first inserts it; the others read it back.
CREATE TABLE upgrade_key (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pem TEXT NOT NULL,
	created BIGINT NOT NULL
);

-- upgrade_builds are the published builds, newest (highest build_id)
-- offered; node_ids is a JSON array (empty: percent of all nodes).
CREATE TABLE upgrade_builds (
	build_id INTEGER PRIMARY KEY AUTOINCREMENT,
	version TEXT NOT NULL,
	arch TEXT NOT NULL,
	size BIGINT NOT NULL,
	sha256 TEXT NOT NULL,
	signature BLOB NOT NULL,
	node_ids TEXT NOT NULL,
	percent INTEGER NOT NULL,
	created BIGINT NOT NULL
);
CREATE INDEX upgrade_builds_sha256 ON upgrade_builds (sha256);

-- upgrade_blobs are the builds' bytes, content-addressed by SHA-256, in
-- chunks (seq from 0), so that neither a publish nor a download holds a
-- whole build in memory.
CREATE TABLE upgrade_blobs (
	sha256 TEXT NOT NULL,
	seq INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (sha256, seq)
);
