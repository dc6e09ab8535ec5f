// Package e2e runs the whole appliance from docker-compose.yml, with no .env,
// plus the development mail catcher (compose/mailcatcher.yml), and checks it
// from outside, through the edge only, the way a browser, a TURN client and
// an operator meet it; mail is read back through the catcher's API.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/compose"
	"github.com/testcontainers/testcontainers-go/wait"
)

// stack is the running appliance shared by the tests of this package.
var stack *appliance

// stackFiles are the compose files the appliance runs from: the product's,
// the override that adds a mail catcher and points the backend's SMTP at
// it, and the one that adds a second media node.
var stackFiles = []string{"../docker-compose.yml", "../compose/mailcatcher.yml", "../compose/media2.yml"}

type appliance struct {
	compose *compose.DockerCompose
	project string
	env     map[string]string
	caPool  *x509.CertPool
}

func TestMain(m *testing.M) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		fmt.Fprintln(os.Stderr, "e2e: set TESTCONTAINERS_RYUK_DISABLED=true before go test (it is read once per process)")
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	a, err := startAppliance(ctx)
	if a != nil {
		defer a.stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start appliance:", err)
		if a != nil {
			a.dumpLogs(ctx)
		}
		return 1
	}
	stack = a
	code := m.Run()
	if code != 0 {
		a.dumpLogs(ctx)
	}
	return code
}

func startAppliance(ctx context.Context) (*appliance, error) {
	relayMin, err := freeUDPRange(8)
	if err != nil {
		return nil, err
	}
	mediaUDP, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	mediaTCP, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	media2UDP, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	media2TCP, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	// Host ports 0 let Docker pick free ones; the tests read them back with
	// MappedPort. Media and relay ports are announced to peers, so their host
	// and container numbers must match: free ones are picked here instead.
	env := map[string]string{
		"HCW_HTTP_PORT":           "0",
		"HCW_HTTPS_PORT":          "0",
		"HCW_TURN_PORT":           "0",
		"HCW_TURN_RELAY_PORT_MIN": fmt.Sprint(relayMin),
		"HCW_TURN_RELAY_PORT_MAX": fmt.Sprint(relayMin + 7),
		"HCW_MEDIA_UDP_PORT":      fmt.Sprint(mediaUDP),
		"HCW_MEDIA_TCP_PORT":      fmt.Sprint(mediaTCP),
		"HCW_MEDIA2_UDP_PORT":     fmt.Sprint(media2UDP),
		"HCW_MEDIA2_TCP_PORT":     fmt.Sprint(media2TCP),
		"HCW_MAILCATCHER_UI_PORT": "0",
	}
	for _, k := range []string{"HCW_GO_IMAGE", "HCW_NODE_IMAGE", "HCW_POSTGRES_IMAGE", "HCW_MAILPIT_IMAGE"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	project := fmt.Sprintf("hcwe2e%d", time.Now().UnixNano()%1_000_000)
	c, err := compose.NewDockerComposeWith(
		compose.WithStackFiles(stackFiles...),
		compose.StackIdentifier(project),
	)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	a := &appliance{compose: c, project: project, env: env}
	stackUp := c.WithEnv(env).
		WaitForService("edge", wait.ForHealthCheck().WithStartupTimeout(5*time.Minute)).
		WaitForService("backend", wait.ForHealthCheck().WithStartupTimeout(5*time.Minute)).
		WaitForService("media2", wait.ForHealthCheck().WithStartupTimeout(5*time.Minute)).
		WaitForService("mailcatcher", wait.ForHealthCheck().WithStartupTimeout(2*time.Minute))
	if err := stackUp.Up(ctx, compose.Wait(true)); err != nil {
		return a, fmt.Errorf("up: %w", err)
	}
	if err := a.loadCA(ctx); err != nil {
		return a, err
	}
	return a, nil
}

func (a *appliance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := a.compose.Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true)); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: down:", err)
	}
}

// dumpLogs prints every service's logs, so a failure in CI can be read.
func (a *appliance) dumpLogs(ctx context.Context) {
	for _, svc := range a.compose.Services() {
		logs, err := a.logs(ctx, svc)
		if err != nil {
			continue
		}
		if len(logs) > 20000 {
			logs = logs[len(logs)-20000:]
		}
		fmt.Fprintf(os.Stderr, "===== %s =====\n%s\n", svc, logs)
	}
}

func (a *appliance) container(t testing.TB, svc string) *testcontainers.DockerContainer {
	t.Helper()
	c, err := a.compose.ServiceContainer(context.Background(), svc)
	if err != nil {
		t.Fatalf("service %s: %v", svc, err)
	}
	return c
}

func (a *appliance) logs(ctx context.Context, svc string) (string, error) {
	c, err := a.compose.ServiceContainer(ctx, svc)
	if err != nil {
		return "", err
	}
	r, err := c.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// hostPort is the host address Docker published svc's port on.
func (a *appliance) hostPort(t testing.TB, svc, port string) string {
	t.Helper()
	ctx := context.Background()
	c := a.container(t, svc)
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		t.Fatalf("%s %s: %v", svc, port, err)
	}
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(host, p.Port())
}

// readFile reads a file out of a service's container.
func (a *appliance) readFile(t testing.TB, svc, path string) []byte {
	t.Helper()
	r, err := a.container(t, svc).CopyFileFromContainer(context.Background(), path)
	if err != nil {
		t.Fatalf("read %s from %s: %v", path, svc, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadCA reads the edge's internal CA root, the file an operator copies to
// a browser's trust store (README).
func (a *appliance) loadCA(ctx context.Context) error {
	c, err := a.compose.ServiceContainer(ctx, "edge")
	if err != nil {
		return err
	}
	r, err := c.CopyFileFromContainer(ctx, "/data/caddy/pki/authorities/local/root.crt")
	if err != nil {
		return fmt.Errorf("edge root CA: %w", err)
	}
	defer r.Close()
	pem, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	a.caPool = x509.NewCertPool()
	if !a.caPool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("edge root CA: no certificate in %q", pem)
	}
	return nil
}

// dialer sends every connection for a *.localhost name to the port Docker
// published for the edge, the way a laptop's resolver sends *.localhost to
// 127.0.0.1.
func (a *appliance) dialer(t testing.TB, containerPort string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	target := a.hostPort(t, "edge", containerPort)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return nil, fmt.Errorf("e2e: refusing to dial %s outside the appliance", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
}

// httpsPort is the host port of the edge's 443.
func (a *appliance) httpsPort(t testing.TB) string {
	_, port, _ := net.SplitHostPort(a.hostPort(t, "edge", "443/tcp"))
	return port
}

// client is an HTTPS client that trusts only the edge's internal CA and does
// not follow redirects.
func (a *appliance) client(t testing.TB) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:       a.dialer(t, "443/tcp"),
			TLSClientConfig:   &tls.Config{RootCAs: a.caPool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// url is an https URL on an app host, with the published port.
func (a *appliance) url(t testing.TB, host, path string) string {
	return fmt.Sprintf("https://%s:%s%s", host, a.httpsPort(t), path)
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %v", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freeUDPRange finds n consecutive free UDP ports.
func freeUDPRange(n int) (int, error) {
	for base := 40000 + int(time.Now().UnixNano()%2000)*8; base < 60000; base += n {
		ok := true
		var held []net.PacketConn
		for p := base; p < base+n; p++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free UDP ports", n)
}
