package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Probe asks the local server for /healthz (or /readyz when ready is true)
// and returns nil on 200. It backs "backend healthcheck", which Docker runs
// inside a scratch image with no curl.
func Probe(ctx context.Context, port string, ready bool) error {
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: status %d", path, resp.StatusCode)
	}
	return nil
}
