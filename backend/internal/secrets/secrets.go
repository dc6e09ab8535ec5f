// Package secrets creates the instance's secrets on first start: database
// password, TURN shared secret, grant signing key pair, session and data
// keys. It never overwrites a file, so running it on every start is safe.
package secrets

import (
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
)

// File names, the contract with the compose file that mounts them.
const (
	DBPasswordFile     = "db_password"
	TURNSecretFile     = "turn_secret"
	GrantKeyFile       = "grant_signing_key.pem"
	GrantPublicKeyFile = "grant_signing_key.pub.pem"
	SessionKeyFile     = "session_key"
	DataKeyFile        = "data_key"
	FileMode           = 0o440
	DirMode            = 0o750
	DefaultUID         = 65532
	DefaultGID         = 65532
	randomSecretBytes  = 32
	actionCreated      = "created"
	actionKept         = "kept"
)

// ErrOrphanPublicKey means the public key exists but its private key does
// not; regenerating would silently change the key others verify with.
var ErrOrphanPublicKey = errors.New("public key exists without its private key")

// Params configures Init.
type Params struct {
	DBDir, TURNDir, BackendDir string
	UID, GID                   int
	Logger                     *slog.Logger
	// Rand is crypto/rand.Reader when nil.
	Rand io.Reader
}

// Init creates every missing secret and leaves existing ones untouched.
func Init(p Params) error {
	if p.Rand == nil {
		p.Rand = rand.Reader
	}
	for _, d := range []string{p.DBDir, p.TURNDir, p.BackendDir} {
		if d == "" {
			return errors.New("secrets: every directory must be given")
		}
		if err := p.prepareDir(d); err != nil {
			return err
		}
	}
	for _, f := range []struct{ dir, name string }{
		{p.DBDir, DBPasswordFile},
		{p.TURNDir, TURNSecretFile},
		{p.BackendDir, SessionKeyFile},
		{p.BackendDir, DataKeyFile},
	} {
		if err := p.ensure(filepath.Join(f.dir, f.name), p.randomToken); err != nil {
			return err
		}
	}
	return p.ensureGrantKeys()
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
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PKCS#8 PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
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
