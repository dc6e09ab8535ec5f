package relay_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/turncred"
	"github.com/hcw-home/hcw/turn/internal/config"
	"github.com/hcw-home/hcw/turn/internal/pionslog"
	"github.com/hcw-home/hcw/turn/internal/relay"
)

const tlsServerName = "turn.test"

// selfSigned writes a fresh self-signed ECDSA certificate for turn.test
// and its key as PEM files, and returns their paths and the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: tlsServerName},
		DNSNames:              []string{tlsServerName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)

	dir := t.TempDir()
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile, cert
}

// withTLS enables the TLS listener the way production does: config.Load
// reads HCW_TURN_TLS_LISTEN and loads the certificate and key files named by
// HCW_TURN_TLS_CERT_FILE and HCW_TURN_TLS_KEY_FILE, and cmd/turn passes the
// result to relay.New.
func withTLS(t *testing.T, certFile, keyFile string) option {
	t.Helper()
	env := map[string]string{
		config.EnvSecret:      string(secret),
		config.EnvPublicIP:    "127.0.0.1",
		config.EnvTLSListen:   "127.0.0.1:0",
		config.EnvTLSCertFile: certFile,
		config.EnvTLSKeyFile:  keyFile,
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.NotNil(t, cfg.TLSCertificate)
	return func(p *relay.Params) {
		p.ListenTLS = cfg.TLSListen
		p.TLSCertificate = cfg.TLSCertificate
	}
}

// dialTLS opens a TLS connection to the relay's TLS listener, trusting
// roots (the system pool when nil) and expecting the name turn.test.
func dialTLS(t *testing.T, h *harness, roots *x509.CertPool) (*tls.Conn, error) {
	t.Helper()
	return dialTLSName(t, h, roots, tlsServerName)
}

// dialTLSName is dialTLS expecting serverName. The dial timeout covers the
// handshake, so a listener that accepts but never answers fails the test
// instead of hanging it.
func dialTLSName(t *testing.T, h *harness, roots *x509.CertPool, serverName string) (*tls.Conn, error) {
	t.Helper()
	require.NotNil(t, h.srv.TLSAddr(), "the TLS listener is not running")
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config:    &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12},
	}
	conn, err := d.DialContext(t.Context(), "tcp4", h.srv.TLSAddr().String())
	if err != nil {
		return nil, err
	}
	return conn.(*tls.Conn), nil
}

// tlsClient is a pion TURN client over a verified TLS connection.
func tlsClient(t *testing.T, h *harness, roots *x509.CertPool, username, password string) *client {
	t.Helper()
	conn, err := dialTLS(t, h, roots)
	require.NoError(t, err)
	server := h.srv.TLSAddr()
	stunConn := turn.NewSTUNConn(conn)
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(),
		STUNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Realm:          realm,
		Conn:           stunConn,
		LoggerFactory:  pionslog.Factory{Logger: slog.New(slog.DiscardHandler)},
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	t.Cleanup(func() {
		c.Close()
		_ = stunConn.Close()
	})
	return &client{Client: c, server: server}
}

func TestTLSListener(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	h := start(t, allowPeers("127.0.0.1/32"), withTLS(t, certFile, keyFile))
	require.NotNil(t, h.srv.TLSAddr())
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	t.Run("allocate", func(t *testing.T) {
		cred := h.mint(t, "participant-tls", time.Hour)
		c := tlsClient(t, h, roots, cred.Username, cred.Password)

		// A Binding request over TLS sees the client's TCP source address.
		mapped, err := c.SendBindingRequest()
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", mapped.(*net.UDPAddr).IP.String())

		relayConn := allocate(t, c)
		require.Equal(t, "127.0.0.1", relayConn.LocalAddr().(*net.UDPAddr).IP.String())

		peer := udpPeer(t)
		_, err = relayConn.WriteTo([]byte("hello tls"), peer.LocalAddr())
		require.NoError(t, err)
		got, from, err := receive(t, peer, 2*time.Second)
		require.NoError(t, err)
		require.Equal(t, "hello tls", string(got))

		_, err = peer.WriteTo([]byte("answer"), from)
		require.NoError(t, err)
		require.NoError(t, relayConn.SetReadDeadline(time.Now().Add(2*time.Second)))
		buf := make([]byte, 100)
		n, _, err := relayConn.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "answer", string(buf[:n]))
	})

	t.Run("presented certificate", func(t *testing.T) {
		conn, err := dialTLS(t, h, roots)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		peers := conn.ConnectionState().PeerCertificates
		require.NotEmpty(t, peers)
		require.True(t, peers[0].Equal(cert), "the server presented another certificate")
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		// A pool without the certificate: unknown authority.
		conn, err := dialTLS(t, h, x509.NewCertPool())
		if conn != nil {
			_ = conn.Close()
		}
		var verr *tls.CertificateVerificationError
		require.ErrorAs(t, err, &verr)
		var unknown x509.UnknownAuthorityError
		require.ErrorAs(t, err, &unknown)

		// The system pool does not trust it either (the error is
		// SystemRootsError on a host without a CA bundle).
		conn, err = dialTLS(t, h, nil)
		if conn != nil {
			_ = conn.Close()
		}
		require.ErrorAs(t, err, &verr)
	})

	t.Run("wrong server name", func(t *testing.T) {
		conn, err := dialTLSName(t, h, roots, "other.test")
		if conn != nil {
			_ = conn.Close()
		}
		var hostErr x509.HostnameError
		require.ErrorAs(t, err, &hostErr)
	})

	t.Run("bad credential", func(t *testing.T) {
		before := testutil.ToFloat64(h.metrics.AuthFailures.WithLabelValues("integrity"))
		other, err := turncred.Mint([]byte("another-secret-another-secret"), "mallory", time.Hour, h.clock.Now())
		require.NoError(t, err)
		c := tlsClient(t, h, roots, other.Username, other.Password)
		_, err = c.Allocate()
		require.Error(t, err)
		var te *stun.TurnError
		require.True(t, errors.As(err, &te), "want a TURN error response, got %v", err)
		require.Contains(t, []int{400, 401}, int(te.ErrorCodeAttr.Code))
		require.Equal(t, before+1, testutil.ToFloat64(h.metrics.AuthFailures.WithLabelValues("integrity")))
	})

	require.Equal(t, 1.0, testutil.ToFloat64(h.metrics.AllocationsTotal))
}
