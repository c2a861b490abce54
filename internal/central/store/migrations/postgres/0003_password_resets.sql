-- One-time password reset links: only the token's SHA-256 is kept, at
-- most one live per person.
CREATE TABLE password_resets (
	token_hash TEXT PRIMARY KEY,
	person_id INTEGER NOT NULL UNIQUE REFERENCES persons ON DELETE CASCADE,
	expires INTEGER NOT NULL
);
