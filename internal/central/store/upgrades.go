package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// UpgradeArchive keeps node upgrades (migration 0004): the one Ed25519 key
// central signs node agent builds with, and the published builds with
// their bytes, so that every central process on the database serves the
// same build and signs with the same key. It is outside Update/View and
// the change log: a build's bytes would not fit in either.
//
// Bounds: a build's bytes are bounded by the caller (central's
// --upgrade-max-bytes); AddBuild keeps only the newest builds and the
// bytes they name, so the archive holds at most that many builds.
type UpgradeArchive interface {
	// InitSigningKey stores pem as the signing key unless the store
	// holds one already, and returns the one it holds: of processes that
	// start at once on an empty database, all get the same key.
	InitSigningKey(ctx context.Context, pem string) (string, error)
	// SigningKey returns the stored key; ErrNotFound if there is none.
	SigningKey(ctx context.Context) (string, error)
	// AddBuild stores b as the newest build, with its bytes read from
	// data (exactly b.Size bytes whose SHA-256 is b.SHA256, else nothing
	// is stored), then deletes all but the newest keep builds (keep >= 1)
	// and the bytes no kept build names. It sets b.BuildID and b.Created.
	AddBuild(ctx context.Context, b *UpgradeBuild, data io.Reader, keep int) error
	// LatestBuild returns the newest build; ErrNotFound if there is none.
	LatestBuild(ctx context.Context) (UpgradeBuild, error)
	// UpgradeBuilds lists the builds kept, newest first.
	UpgradeBuilds(ctx context.Context) ([]UpgradeBuild, error)
	// OpenBuild streams the bytes of the kept build whose SHA-256 is sha,
	// one chunk read at a time; ErrNotFound if no kept build has it. A
	// read fails (io.ErrUnexpectedEOF) if the bytes are deleted meanwhile.
	OpenBuild(ctx context.Context, sha string) (io.ReadCloser, error)
}

// UpgradeBuild is one published build: what central signed of it
// (Upgrade, without PublicKey, which is the stored key's), and when.
type UpgradeBuild struct {
	BuildID int64 `json:"build_id"`
	api.Upgrade
	Created int64 `json:"created"` // Unix seconds
}

// upgradeChunk is the size of one row of a build's bytes.
const upgradeChunk = 1 << 20

// upgradeLock serializes AddBuild across PostgreSQL processes, so that
// one's pruning never deletes bytes that another's new build names.
const upgradeLock = 7262004

// Upgrades returns the store's upgrade archive.
func (s *db) Upgrades() UpgradeArchive { return upgradeArchive{s} }

// upgradeArchive implements UpgradeArchive over a db.
type upgradeArchive struct{ s *db }

// InitSigningKey implements UpgradeArchive.
func (a upgradeArchive) InitSigningKey(ctx context.Context, pem string) (string, error) {
	if strings.TrimSpace(pem) == "" {
		return "", errors.New("init upgrade signing key: empty key")
	}
	err := a.s.archiveTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, a.s.d.rebind("INSERT INTO upgrade_key (id, pem, created) VALUES (1, ?, ?) ON CONFLICT DO NOTHING"),
			pem, time.Now().Unix())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("init upgrade signing key: %w", err)
	}
	return a.SigningKey(ctx)
}

// SigningKey implements UpgradeArchive.
func (a upgradeArchive) SigningKey(ctx context.Context) (string, error) {
	var pem string
	err := a.s.r.QueryRowContext(ctx, "SELECT pem FROM upgrade_key WHERE id = 1").Scan(&pem)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("upgrade signing key: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("upgrade signing key: %w", err)
	}
	return pem, nil
}

// AddBuild implements UpgradeArchive.
func (a upgradeArchive) AddBuild(ctx context.Context, b *UpgradeBuild, data io.Reader, keep int) error {
	if keep < 1 {
		return fmt.Errorf("add upgrade build: keep %d: want at least 1", keep)
	}
	ids, err := json.Marshal(append([]int64{}, b.NodeIDs...))
	if err != nil {
		return fmt.Errorf("add upgrade build: %w", err)
	}
	created := time.Now().Unix()
	// Not retried: data is read once. SQLite's writer and PostgreSQL's
	// lock make concurrent publishes wait for each other instead.
	tx, err := a.s.w.BeginTx(ctx, a.s.archiveTxOptions())
	if err != nil {
		return fmt.Errorf("add upgrade build: %w", err)
	}
	defer tx.Rollback()
	if a.s.d.name() == "postgres" {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", upgradeLock); err != nil {
			return fmt.Errorf("add upgrade build: lock: %w", err)
		}
	}
	if err := a.insertBlob(ctx, tx, b.SHA256, b.Size, data); err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, a.s.d.rebind(`INSERT INTO upgrade_builds
		(version, arch, size, sha256, signature, node_ids, percent, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING build_id`),
		b.Version, b.Arch, b.Size, strings.ToLower(b.SHA256), b.Signature, string(ids), b.Percent, created).Scan(&b.BuildID)
	if err != nil {
		return fmt.Errorf("add upgrade build: %w", err)
	}
	if _, err := tx.ExecContext(ctx, a.s.d.rebind(`DELETE FROM upgrade_builds WHERE build_id NOT IN
		(SELECT build_id FROM upgrade_builds ORDER BY build_id DESC LIMIT ?)`), keep); err != nil {
		return fmt.Errorf("prune upgrade builds: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM upgrade_blobs WHERE sha256 NOT IN (SELECT sha256 FROM upgrade_builds)"); err != nil {
		return fmt.Errorf("prune upgrade builds: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add upgrade build: commit: %w", err)
	}
	b.Created = created
	return nil
}

// insertBlob stores size bytes of data as the blob sha, in chunks, and
// fails unless data holds exactly that. Bytes already stored under sha
// (the same build published again) are kept.
func (a upgradeArchive) insertBlob(ctx context.Context, tx *sql.Tx, sha string, size int64, data io.Reader) error {
	sha = strings.ToLower(sha)
	ins := a.s.d.rebind("INSERT INTO upgrade_blobs (sha256, seq, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
	h := sha256.New()
	buf := make([]byte, upgradeChunk)
	var n int64
	for seq := 0; ; seq++ {
		m, err := io.ReadFull(data, buf)
		if m > 0 {
			h.Write(buf[:m])
			n += int64(m)
			if n > size {
				return fmt.Errorf("add upgrade build: more than its size %d bytes", size)
			}
			if _, err := tx.ExecContext(ctx, ins, sha, seq, buf[:m]); err != nil {
				return fmt.Errorf("add upgrade build bytes: %w", err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("add upgrade build: read: %w", err)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha {
		return fmt.Errorf("add upgrade build: the bytes (%d, SHA-256 %s) are not the build's (%d, %s)", n, got, size, sha)
	}
	return nil
}

// buildColumns are what a build row is read from.
const buildColumns = "build_id, version, arch, size, sha256, signature, node_ids, percent, created"

func scanBuild(r interface{ Scan(...any) error }) (UpgradeBuild, error) {
	var b UpgradeBuild
	var ids string
	if err := r.Scan(&b.BuildID, &b.Version, &b.Arch, &b.Size, &b.SHA256, &b.Signature, &ids, &b.Percent, &b.Created); err != nil {
		return b, err
	}
	if err := json.Unmarshal([]byte(ids), &b.NodeIDs); err != nil {
		return b, fmt.Errorf("build %d node_ids: %w", b.BuildID, err)
	}
	if len(b.NodeIDs) == 0 {
		b.NodeIDs = nil
	}
	return b, nil
}

// LatestBuild implements UpgradeArchive.
func (a upgradeArchive) LatestBuild(ctx context.Context) (UpgradeBuild, error) {
	b, err := scanBuild(a.s.r.QueryRowContext(ctx, "SELECT "+buildColumns+" FROM upgrade_builds ORDER BY build_id DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("upgrade build: %w", ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("upgrade build: %w", err)
	}
	return b, nil
}

// UpgradeBuilds implements UpgradeArchive.
func (a upgradeArchive) UpgradeBuilds(ctx context.Context) ([]UpgradeBuild, error) {
	rows, err := a.s.r.QueryContext(ctx, "SELECT "+buildColumns+" FROM upgrade_builds ORDER BY build_id DESC")
	if err != nil {
		return nil, fmt.Errorf("upgrade builds: %w", err)
	}
	defer rows.Close()
	var out []UpgradeBuild
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, fmt.Errorf("upgrade builds: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("upgrade builds: %w", err)
	}
	return out, nil
}

// OpenBuild implements UpgradeArchive.
func (a upgradeArchive) OpenBuild(ctx context.Context, sha string) (io.ReadCloser, error) {
	sha = strings.ToLower(sha)
	var size int64
	err := a.s.r.QueryRowContext(ctx, a.s.d.rebind("SELECT size FROM upgrade_builds WHERE sha256 = ? LIMIT 1"), sha).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("upgrade build %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade build %s: %w", sha, err)
	}
	return &blobReader{ctx: ctx, a: a, sha: sha, left: size}, nil
}

// blobReader reads a build's bytes a chunk at a time.
type blobReader struct {
	ctx  context.Context
	a    upgradeArchive
	sha  string
	seq  int
	left int64  // bytes not yet read
	buf  []byte // the rest of the chunk read last
}

func (r *blobReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		err := r.a.s.r.QueryRowContext(r.ctx, r.a.s.d.rebind("SELECT data FROM upgrade_blobs WHERE sha256 = ? AND seq = ?"),
			r.sha, r.seq).Scan(&r.buf)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (len(r.buf) == 0 || int64(len(r.buf)) > r.left)) {
			return 0, fmt.Errorf("upgrade build %s chunk %d: %w", r.sha, r.seq, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, fmt.Errorf("upgrade build %s chunk %d: %w", r.sha, r.seq, err)
		}
		r.seq++
		r.left -= int64(len(r.buf))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *blobReader) Close() error { return nil }
