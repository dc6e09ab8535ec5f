package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"

	"github.com/hcw-home/hcw/contract/turncred"
)

// turnSecret is the secret the appliance generated on first start.
func turnSecret(t testing.TB) []byte {
	return []byte(strings.TrimSpace(string(stack.readFile(t, "turn", "/run/secrets/turn/turn_secret"))))
}

func allocate(t testing.TB, conn net.PacketConn, server string, cred turncred.Credential) (net.Addr, error) {
	t.Helper()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       cred.Username,
		Password:       cred.Password,
		Realm:          "hcw",
		LoggerFactory:  logging.NewDefaultLoggerFactory(),
		RTO:            500 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return nil, err
	}
	relay, err := client.Allocate()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}

func mint(t testing.TB, secret []byte) turncred.Credential {
	c, err := turncred.Mint(secret, "e2e-participant", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkRelayPort(t testing.TB, relay net.Addr) {
	t.Helper()
	_, port, _ := net.SplitHostPort(relay.String())
	p, _ := strconv.Atoi(port)
	lo, _ := strconv.Atoi(stack.env["HCW_TURN_RELAY_PORT_MIN"])
	hi, _ := strconv.Atoi(stack.env["HCW_TURN_RELAY_PORT_MAX"])
	if p < lo || p > hi {
		t.Fatalf("relay %s outside the configured range %d-%d", relay, lo, hi)
	}
}

func TestTURNAllocateOverUDP(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	relay, err := allocate(t, conn, stack.hostPort(t, "turn", "3478/udp"), mint(t, turnSecret(t)))
	if err != nil {
		t.Fatalf("allocate over UDP: %v", err)
	}
	checkRelayPort(t, relay)
}

func TestTURNRefusesWrongSecret(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := allocate(t, conn, stack.hostPort(t, "turn", "3478/udp"), mint(t, []byte("not-the-appliance-secret-at-all"))); err == nil {
		t.Fatal("allocation with a credential from another secret succeeded")
	}
}

// TestTURNOverTLSOn443 is the locked-down hospital network: only 443 is
// open. The edge selects the TURN host by SNI, terminates TLS with a
// certificate from its CA and relays the stream to the TURN server.
func TestTURNOverTLSOn443(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: "turn.localhost", RootCAs: stack.caPool, MinVersion: tls.VersionTLS12}}
	edge := stack.hostPort(t, "edge", "443/tcp")
	raw, err := d.DialContext(ctx, "tcp", edge)
	if err != nil {
		t.Fatalf("TLS to turn.localhost on 443: %v", err)
	}
	defer raw.Close()
	relay, err := allocate(t, turn.NewSTUNConn(raw), edge, mint(t, turnSecret(t)))
	if err != nil {
		t.Fatalf("allocate over TLS on 443: %v", err)
	}
	checkRelayPort(t, relay)
}
