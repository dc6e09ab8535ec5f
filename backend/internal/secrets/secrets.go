// Package secrets creates the instance's secrets on first start: database
// password, TURN shared secret, media node secret, grant signing key pair,
// session and data keys. It never overwrites a file, so running it on every start is safe.
package secrets

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// File names, the contract with the compose file that mounts them.
const (
	DBPasswordFile = "db_password"
	TURNSecretFile = "turn_secret"
	// MediaNodeSecretFile is the bearer secret media nodes and the backend
	// share (contract/nodeapi).
	MediaNodeSecretFile = "media_node_secret"
	GrantKeyFile        = "grant_signing_key.pem"
	GrantPublicKeyFile  = "grant_signing_key.pub.pem"
	SessionKeyFile      = "session_key"
	DataKeyFile         = "data_key"
	FileMode            = 0o440
	DirMode             = 0o750
	DefaultUID          = 65532
	DefaultGID          = 65532
	randomSecretBytes   = 32
	actionCreated       = "created"
	actionKept          = "kept"
)

// ErrOrphanPublicKey means the public key exists but its private key does
// not; regenerating would silently change the key others verify with.
var ErrOrphanPublicKey = errors.New("public key exists without its private key")

// Params configures Init.
type Params struct {
	DBDir, TURNDir, BackendDir string
	// MediaDir receives the media node secret (mounted by the media nodes
	// and the backend).
	MediaDir string
	UID, GID int
	Logger   *slog.Logger
	// Rand is crypto/rand.Reader when nil.
	Rand io.Reader
	// Supplied holds secrets the operator provides, by file name. A
	// supplied secret is written in place of a generated one, and replaces
	// a different file already there (the operator rotated it).
	Supplied map[string][]byte
}

// SuppliedVariables names, for each secret file, the environment variable
// (with its _FILE variant) an operator supplies it with.
var SuppliedVariables = map[string]string{
	DBPasswordFile:      "HCW_DB_PASSWORD",
	TURNSecretFile:      "HCW_TURN_SECRET",
	MediaNodeSecretFile: "HCW_MEDIA_NODE_SECRET",
	SessionKeyFile:      "HCW_SESSION_KEY",
	DataKeyFile:         "HCW_DATA_KEY",
	GrantKeyFile:        "HCW_GRANT_SIGNING_KEY",
}

// minSuppliedLen is the shortest secret accepted from an operator, in
// bytes: shorter ones are guessable, whatever their use.
const minSuppliedLen = 16

// Init creates every missing secret and leaves existing ones untouched.
func Init(p Params) error {
	if p.Rand == nil {
		p.Rand = rand.Reader
	}
	for _, d := range []string{p.DBDir, p.TURNDir, p.BackendDir, p.MediaDir} {
		if d == "" {
			return errors.New("secrets: every directory must be given")
		}
		if err := p.prepareDir(d); err != nil {
			return err
		}
	}
	if err := p.checkSupplied(); err != nil {
		return err
	}
	for _, f := range []struct{ dir, name string }{
		{p.DBDir, DBPasswordFile},
		{p.TURNDir, TURNSecretFile},
		{p.MediaDir, MediaNodeSecretFile},
		{p.BackendDir, SessionKeyFile},
		{p.BackendDir, DataKeyFile},
	} {
		path := filepath.Join(f.dir, f.name)
		if v, ok := p.Supplied[f.name]; ok {
			if err := p.install(path, v); err != nil {
				return err
			}
			continue
		}
		if err := p.ensure(path, p.randomToken); err != nil {
			return err
		}
	}
	if v, ok := p.Supplied[GrantKeyFile]; ok {
		if err := p.install(filepath.Join(p.BackendDir, GrantKeyFile), v); err != nil {
			return err
		}
		// The public half must follow the supplied private key.
		if err := p.removeIfStale(filepath.Join(p.BackendDir, GrantPublicKeyFile), v); err != nil {
			return err
		}
	}
	return p.ensureGrantKeys()
}

// checkSupplied refuses an operator's secret that is too short or, for the
// signing key, not an Ed25519 PKCS#8 key, before anything is written.
func (p Params) checkSupplied() error {
	for name, v := range p.Supplied {
		variable := SuppliedVariables[name]
		if variable == "" {
			return fmt.Errorf("secrets: %s cannot be supplied", name)
		}
		switch name {
		case GrantKeyFile:
			if _, err := parsePrivateKey(v); err != nil {
				return fmt.Errorf("secrets: %s: %w", variable, err)
			}
			continue
		case DataKeyFile, SessionKeyFile:
			// The backend reads these as 32-byte keys; refuse here what it
			// would refuse at start.
			if _, err := sealed.ParseKey(string(v)); err != nil {
				return fmt.Errorf("secrets: %s: %w (32 bytes, base64url)", variable, err)
			}
			continue
		}
		if len(v) < minSuppliedLen {
			return fmt.Errorf("secrets: %s: shorter than %d bytes", variable, minSuppliedLen)
		}
		if name == MediaNodeSecretFile && bytes.ContainsAny(v, " \t\r\n") {
			// It travels in an Authorization header; the backend refuses it.
			return fmt.Errorf("secrets: %s: contains white space", variable)
		}
	}
	return nil
}

// install writes content to path unless path already holds exactly that.
func (p Params) install(path string, content []byte) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, content):
		p.Logger.Info("secret file", "path", path, "action", actionKept)
		return nil
	case err == nil:
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("secrets: replace %s: %w", path, err)
		}
		p.Logger.Warn("secret file replaced by the supplied value", "path", path)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("secrets: read %s: %w", path, err)
	}
	return p.ensure(path, func() ([]byte, error) { return content, nil })
}

// removeIfStale removes the public key file when it does not belong to the
// private key privPEM, so ensureGrantKeys derives it again.
func (p Params) removeIfStale(pubPath string, privPEM []byte) error {
	key, err := parsePrivateKey(privPEM)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(pubPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secrets: read %s: %w", pubPath, err)
	}
	if block, _ := pem.Decode(b); block != nil {
		if pub, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
			if k, ok := pub.(ed25519.PublicKey); ok && k.Equal(key.Public()) {
				return nil
			}
		}
	}
	if err := os.Remove(pubPath); err != nil {
		return fmt.Errorf("secrets: replace %s: %w", pubPath, err)
	}
	return nil
}

func (p Params) prepareDir(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("secrets: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("secrets: chmod %s: %w", dir, err)
	}
	return p.chown(dir)
}

func (p Params) chown(path string) error {
	if err := os.Chown(path, p.UID, p.GID); err != nil {
		return fmt.Errorf("secrets: chown %s to %d:%d (needs root, or the current uid/gid): %w", path, p.UID, p.GID, err)
	}
	return nil
}

// randomToken is 32 random bytes, base64url without padding.
func (p Params) randomToken() ([]byte, error) {
	b := make([]byte, randomSecretBytes)
	if _, err := io.ReadFull(p.Rand, b); err != nil {
		return nil, fmt.Errorf("read random: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}

func (p Params) ensureGrantKeys() error {
	priv := filepath.Join(p.BackendDir, GrantKeyFile)
	pub := filepath.Join(p.BackendDir, GrantPublicKeyFile)
	privExists, err := exists(priv)
	if err != nil {
		return err
	}
	pubExists, err := exists(pub)
	if err != nil {
		return err
	}
	if !privExists && pubExists {
		return fmt.Errorf("secrets: %s: %w; remove it to generate a new pair", pub, ErrOrphanPublicKey)
	}
	var key ed25519.PrivateKey
	err = p.ensure(priv, func() ([]byte, error) {
		_, k, err := ed25519.GenerateKey(p.Rand)
		if err != nil {
			return nil, fmt.Errorf("generate ed25519 key: %w", err)
		}
		key = k
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return err
	}
	// The public half is derived from whatever private key is on disk, so a
	// lost public file is rebuilt to match.
	return p.ensure(pub, func() ([]byte, error) {
		if key == nil {
			if key, err = readPrivateKey(priv); err != nil {
				return nil, err
			}
		}
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	})
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := parsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func parsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek, nil
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("secrets: stat %s: %w", path, err)
	}
}

// ensure writes path with generate's output unless it exists. The content
// goes to a temporary file (mode, owner, fsync) that is then hard-linked
// into place: link, unlike rename, fails if another run created the file
// meanwhile, so an existing secret is never replaced.
func (p Params) ensure(path string, generate func() ([]byte, error)) error {
	ok, err := exists(path)
	if err != nil {
		return err
	}
	if ok {
		p.Logger.Info("secret file", "path", path, "action", actionKept)
		return nil
	}
	content, err := generate()
	if err != nil {
		return fmt.Errorf("secrets: %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSynced(tmp, content); err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if err := os.Chmod(tmpName, FileMode); err != nil {
		return fmt.Errorf("secrets: chmod %s: %w", path, err)
	}
	if err := p.chown(tmpName); err != nil {
		return err
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			p.Logger.Info("secret file", "path", path, "action", actionKept)
			return nil
		}
		return fmt.Errorf("secrets: install %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("secrets: sync %s: %w", dir, err)
	}
	p.Logger.Info("secret file", "path", path, "action", actionCreated)
	return nil
}

func writeSynced(f *os.File, content []byte) error {
	_, err := f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
