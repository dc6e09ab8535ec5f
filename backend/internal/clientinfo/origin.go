package clientinfo

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// Origin check failures.
var (
	ErrOriginMissing    = errors.New("origin header missing")
	ErrOriginMalformed  = errors.New("origin is not https://host[:port]")
	ErrOriginNotAllowed = errors.New("origin host is not an app host")
	ErrOriginCrossSite  = errors.New("origin does not match the requested host")
)

// CheckOrigin accepts only a browser page served by one of our apps over
// HTTPS, and only when it talks to its own host: the Origin must be
// https://<app host>[:port] and its host[:port] must equal effectiveHost
// (X-Forwarded-Host from the edge, else Host). It closes cross-site
// WebSocket hijacking and cross-site request forgery on cookie-authenticated
// requests alike.
func CheckOrigin(origin, effectiveHost string, appHosts []string) error {
	if origin == "" {
		return ErrOriginMissing
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return ErrOriginMalformed
	}
	if !slices.Contains(appHosts, strings.ToLower(u.Hostname())) {
		return ErrOriginNotAllowed
	}
	if !strings.EqualFold(stripDefaultPort(u.Host), stripDefaultPort(effectiveHost)) {
		return ErrOriginCrossSite
	}
	return nil
}

// stripDefaultPort removes ":443", which browsers leave out of Origin but a
// proxy may keep in Host.
func stripDefaultPort(hostport string) string {
	return strings.TrimSuffix(hostport, ":443")
}
