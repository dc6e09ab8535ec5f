// Package config reads the backend's settings from environment variables,
// validates all of them at start-up and reports the first bad one as a single
// line naming the variable. Every secret also has a _FILE variant so that
// Docker secrets can be mounted instead of passed in the environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// Environment variable names. They are the public interface of the image.
const (
	EnvHTTPListen            = "HCW_HTTP_LISTEN"
	EnvDatabaseURL           = "HCW_DATABASE_URL"
	EnvDBHost                = "HCW_DB_HOST"
	EnvDBPort                = "HCW_DB_PORT"
	EnvDBName                = "HCW_DB_NAME"
	EnvDBUser                = "HCW_DB_USER"
	EnvDBPassword            = "HCW_DB_PASSWORD"
	EnvDBSSLMode             = "HCW_DB_SSLMODE"
	EnvDBMaxConns            = "HCW_DB_MAX_CONNS"
	EnvDBConnectTimeout      = "HCW_DB_CONNECT_TIMEOUT"
	EnvDomain                = "HCW_DOMAIN"
	EnvDoctorHost            = "HCW_DOCTOR_HOST"
	EnvPatientHost           = "HCW_PATIENT_HOST"
	EnvAdminHost             = "HCW_ADMIN_HOST"
	EnvEdgeProxies           = "HCW_EDGE_PROXIES"
	EnvLogLevel              = "HCW_LOG_LEVEL"
	EnvShutdownTimeout       = "HCW_SHUTDOWN_TIMEOUT"
	EnvDataKey               = "HCW_DATA_KEY"
	EnvMetricsListen         = "HCW_METRICS_LISTEN"
	EnvSessionIdle           = "HCW_SESSION_IDLE_TIMEOUT"
	EnvSessionLifetime       = "HCW_SESSION_LIFETIME"
	EnvInviteTTL             = "HCW_INVITE_TTL"
	EnvNurseSelfRegistration = "HCW_NURSE_SELF_REGISTRATION"
	EnvInviteEarly           = "HCW_INVITE_EARLY"
	EnvInterpreterRequestTTL = "HCW_INTERPRETER_REQUEST_TTL"
)

// Defaults for the variables that have a fixed one.
const (
	DefaultHTTPListen       = ":8080"
	DefaultDBHost           = "postgres"
	DefaultDBPort           = 5432
	DefaultDBName           = "hcw"
	DefaultDBUser           = "hcw"
	DefaultDBSSLMode        = "disable"
	DefaultDBConnectTimeout = 5 * time.Second
	DefaultDomain           = "localhost"
	DefaultEdgeProxies      = "edge"
	DefaultLogLevel         = "info"
	DefaultShutdownTimeout  = 15 * time.Second
	DefaultMetricsListen    = ":9090"
	DefaultSessionIdle      = 30 * time.Minute
	DefaultSessionLifetime  = 12 * time.Hour
	DefaultInviteTTL        = 24 * time.Hour
	DefaultInviteEarly      = 10 * time.Minute
	// DefaultInterpreterRequestTTL: 48 h for an interpreter to accept.
	DefaultInterpreterRequestTTL = 48 * time.Hour
)

// HCW_AUDIT_RETENTION_DAYS: how long audit rows are kept, independently of
// consultations. The minimum matches audit.MinRetention and the purge
// trigger of migration 0002, which refuse to delete younger rows.
const (
	EnvAuditRetentionDays     = "HCW_AUDIT_RETENTION_DAYS"
	DefaultAuditRetentionDays = 365
	MinAuditRetentionDays     = 30
	MaxAuditRetentionDays     = 36500
)

// fileSuffix marks the variant of a secret variable that names a file.
const fileSuffix = "_FILE"

// ErrInvalid is wrapped by every validation error, so callers can tell a
// configuration mistake from an I/O failure if they need to.
var ErrInvalid = errors.New("invalid configuration")

// Options is the validated configuration of one backend process.
type Options struct {
	// HTTPListen is the TCP address of the HTTP server, e.g. ":8080".
	HTTPListen string
	// HTTPPort is the port part of HTTPListen (used by the healthcheck).
	HTTPPort string

	// Database is the pgx pool configuration built from HCW_DATABASE_URL or
	// the HCW_DB_* parts, with MaxConns and ConnectTimeout applied.
	Database *pgxpool.Config
	// DBConnectTimeout bounds each connection attempt.
	DBConnectTimeout time.Duration

	// Domain is the base domain; the three app hosts default to sub-domains.
	Domain string
	// DoctorHost, PatientHost and AdminHost are the public host names of the
	// three web apps; they form the WebSocket Origin allow-list.
	DoctorHost, PatientHost, AdminHost string

	// EdgePrefixes are the literal addresses and networks of the reverse proxy.
	EdgePrefixes []netip.Prefix
	// EdgeHostNames are host names of the reverse proxy, resolved at run time.
	EdgeHostNames []string

	// LogLevel is the minimum level written to the log.
	LogLevel slog.Level
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration

	// AuditRetentionDays is how many days audit rows are kept before the
	// retention purge may delete them.
	AuditRetentionDays int

	// SessionIdleTimeout ends a staff session unused for that long;
	// SessionLifetime ends it that long after sign-in, used or not.
	SessionIdleTimeout, SessionLifetime time.Duration

	// NurseSelfRegistration lets nurses ask for an account from the doctor
	// app; the account waits for an administrator's approval. Off by
	// default: a clinic turns it on when it wants it.
	NurseSelfRegistration bool

	// InviteTTL is how long an invite lives after its scheduled time (or
	// after creation when unscheduled); InviteEarly is how long before the
	// scheduled time it opens.
	InviteTTL, InviteEarly time.Duration

	// InterpreterRequestTTL is how long a request for an interpreter waits
	// for a member of the organisation to accept.
	InterpreterRequestTTL time.Duration

	// MetricsListen is the internal address of the Prometheus metrics
	// server; "off" disables it. Never published through the edge.
	MetricsListen string

	// DataKey encrypts health data at rest (package sealed). It is
	// required: the service never stores health data in plaintext.
	DataKey *sealed.Key
	// PreviousDataKeys are older data keys (HCW_DATA_KEYS_PREVIOUS) that
	// only open what they sealed, until `backend keys rotate` re-seals it.
	PreviousDataKeys []*sealed.Key

	// SMTP configures outgoing mail (HCW_SMTP_*, smtp.go); an empty Host
	// means mail is off.
	SMTP mail.Params

	// Media configures calls: media nodes, grants, TURN, call timers
	// (media.go).
	Media Media
}

// AppHosts returns the public host names of the three web apps.
func (o *Options) AppHosts() []string {
	return []string{o.DoctorHost, o.PatientHost, o.AdminHost}
}

// LookupFunc reads one environment variable, like os.LookupEnv.
type LookupFunc func(key string) (string, bool)

// FromEnv parses the process environment.
func FromEnv() (*Options, error) {
	return Parse(os.LookupEnv)
}

// DefaultDBMaxConns is max(4, 2*NumCPU).
func DefaultDBMaxConns() int {
	return max(4, 2*runtime.NumCPU())
}

type parser struct {
	lookup LookupFunc
}

// get returns the trimmed value of key, or "" when unset or empty.
func (p parser) get(key string) string {
	v, _ := p.lookup(key)
	return strings.TrimSpace(v)
}

// secret returns the value of key or the content of the file named by
// key_FILE, with one trailing newline removed. Setting both is an error so an
// operator never wonders which one won.
func (p parser) secret(key string) (string, error) {
	v, hasV := p.lookup(key)
	path, hasFile := p.lookup(key + fileSuffix)
	hasV = hasV && v != ""
	hasFile = hasFile && strings.TrimSpace(path) != ""
	switch {
	case hasV && hasFile:
		return "", invalidf("%s and %s%s are both set; use only one", key, key, fileSuffix)
	case hasFile:
		b, err := os.ReadFile(strings.TrimSpace(path))
		if err != nil {
			return "", fmt.Errorf("%s%s: %w", key, fileSuffix, err)
		}
		s := strings.TrimSuffix(string(b), "\n")
		s = strings.TrimSuffix(s, "\r")
		if s == "" {
			return "", invalidf("%s%s: file %q is empty", key, fileSuffix, path)
		}
		return s, nil
	default:
		return v, nil
	}
}

func (p parser) positiveInt(key string, def int) (int, error) {
	v := p.get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, invalidf("%s: %q is not a positive integer", key, v)
	}
	return n, nil
}

func (p parser) positiveDuration(key string, def time.Duration) (time.Duration, error) {
	v := p.get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalidf("%s: %q is not a positive duration such as 5s or 1m", key, v)
	}
	return d, nil
}

func (p parser) hostName(key, def string) (string, error) {
	v := strings.ToLower(p.get(key))
	if v == "" {
		return def, nil
	}
	if !isHostName(v) {
		return "", invalidf("%s: %q is not a host name (no scheme, port or path)", key, v)
	}
	return v, nil
}

// Parse builds Options from lookup and validates every variable.
func Parse(lookup LookupFunc) (*Options, error) {
	p := parser{lookup: lookup}
	o := &Options{}
	var err error

	if o.HTTPListen, o.HTTPPort, err = p.listen(); err != nil {
		return nil, err
	}

	if o.DBConnectTimeout, err = p.positiveDuration(EnvDBConnectTimeout, DefaultDBConnectTimeout); err != nil {
		return nil, err
	}
	maxConns, err := p.positiveInt(EnvDBMaxConns, DefaultDBMaxConns())
	if err != nil {
		return nil, err
	}
	if maxConns > 10000 {
		return nil, invalidf("%s: %d is too large", EnvDBMaxConns, maxConns)
	}
	if o.Database, err = p.database(); err != nil {
		return nil, err
	}
	o.Database.MaxConns = int32(maxConns)
	o.Database.ConnConfig.ConnectTimeout = o.DBConnectTimeout

	if o.Domain, err = p.hostName(EnvDomain, DefaultDomain); err != nil {
		return nil, err
	}
	if o.DoctorHost, err = p.hostName(EnvDoctorHost, "doctor."+o.Domain); err != nil {
		return nil, err
	}
	if o.PatientHost, err = p.hostName(EnvPatientHost, "patient."+o.Domain); err != nil {
		return nil, err
	}
	if o.AdminHost, err = p.hostName(EnvAdminHost, "admin."+o.Domain); err != nil {
		return nil, err
	}

	if o.EdgePrefixes, o.EdgeHostNames, err = parseEdgeProxies(p.get(EnvEdgeProxies)); err != nil {
		return nil, err
	}

	level := strings.ToLower(p.get(EnvLogLevel))
	if level == "" {
		level = DefaultLogLevel
	}
	switch level {
	case "debug":
		o.LogLevel = slog.LevelDebug
	case "info":
		o.LogLevel = slog.LevelInfo
	case "warn":
		o.LogLevel = slog.LevelWarn
	case "error":
		o.LogLevel = slog.LevelError
	default:
		return nil, invalidf("%s: %q is not one of debug, info, warn, error", EnvLogLevel, level)
	}

	if o.ShutdownTimeout, err = p.positiveDuration(EnvShutdownTimeout, DefaultShutdownTimeout); err != nil {
		return nil, err
	}

	if o.AuditRetentionDays, err = p.positiveInt(EnvAuditRetentionDays, DefaultAuditRetentionDays); err != nil {
		return nil, err
	}
	if o.AuditRetentionDays < MinAuditRetentionDays || o.AuditRetentionDays > MaxAuditRetentionDays {
		return nil, invalidf("%s: %d is not between %d and %d days", EnvAuditRetentionDays,
			o.AuditRetentionDays, MinAuditRetentionDays, MaxAuditRetentionDays)
	}

	if o.DataKey, err = p.dataKey(); err != nil {
		return nil, err
	}
	if o.PreviousDataKeys, err = p.previousDataKeys(); err != nil {
		return nil, err
	}
	if o.SMTP, err = p.smtp(); err != nil {
		return nil, err
	}
	if o.Media, err = p.media(o.Domain); err != nil {
		return nil, err
	}
	if o.SessionIdleTimeout, err = p.positiveDuration(EnvSessionIdle, DefaultSessionIdle); err != nil {
		return nil, err
	}
	if o.SessionLifetime, err = p.positiveDuration(EnvSessionLifetime, DefaultSessionLifetime); err != nil {
		return nil, err
	}
	if o.SessionIdleTimeout > o.SessionLifetime {
		return nil, invalidf("%s (%s) is longer than %s (%s)", EnvSessionIdle, o.SessionIdleTimeout, EnvSessionLifetime, o.SessionLifetime)
	}
	switch v := strings.ToLower(p.get(EnvNurseSelfRegistration)); v {
	case "", "false", "0", "no", "off":
	case "true", "1", "yes", "on":
		o.NurseSelfRegistration = true
	default:
		return nil, invalidf("%s: %q is not true or false", EnvNurseSelfRegistration, v)
	}
	if o.InviteTTL, err = p.positiveDuration(EnvInviteTTL, DefaultInviteTTL); err != nil {
		return nil, err
	}
	if o.InviteEarly, err = p.positiveDuration(EnvInviteEarly, DefaultInviteEarly); err != nil {
		return nil, err
	}
	if o.InviteEarly >= o.InviteTTL {
		return nil, invalidf("%s (%s) must be shorter than %s (%s)", EnvInviteEarly, o.InviteEarly, EnvInviteTTL, o.InviteTTL)
	}
	if o.InterpreterRequestTTL, err = p.positiveDuration(EnvInterpreterRequestTTL, DefaultInterpreterRequestTTL); err != nil {
		return nil, err
	}
	if o.MetricsListen = p.get(EnvMetricsListen); o.MetricsListen == "" {
		o.MetricsListen = DefaultMetricsListen
	}
	if o.MetricsListen != "off" {
		if _, port, err := net.SplitHostPort(o.MetricsListen); err != nil || port == "" {
			return nil, invalidf("%s: %q is not a host:port address (or off)", EnvMetricsListen, o.MetricsListen)
		}
	}
	return o, nil
}

// dataKey parses the data key that `backend secrets init` generates. The
// error names the variable the value came from and never repeats the value.
func (p parser) dataKey() (*sealed.Key, error) {
	v, err := p.secret(EnvDataKey)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, invalidf("%s (or %s%s) is required: health data is encrypted at rest with it (`backend secrets init` generates one)", EnvDataKey, EnvDataKey, fileSuffix)
	}
	k, err := sealed.ParseKey(v)
	if err != nil {
		name := EnvDataKey
		if p.get(EnvDataKey+fileSuffix) != "" {
			name += fileSuffix
		}
		return nil, invalidf("%s: %v (base64url, as in the generated data_key file)", name, err)
	}
	return k, nil
}

// ListenPort returns the port of HCW_HTTP_LISTEN alone. The healthcheck
// uses it so that a probe never depends on reading secrets.
func ListenPort(lookup LookupFunc) (string, error) {
	_, port, err := parser{lookup: lookup}.listen()
	return port, err
}

func (p parser) listen() (addr, port string, err error) {
	addr = p.get(EnvHTTPListen)
	if addr == "" {
		addr = DefaultHTTPListen
	}
	_, port, splitErr := net.SplitHostPort(addr)
	if n, convErr := strconv.Atoi(port); splitErr != nil || convErr != nil || n < 1 || n > 65535 {
		return "", "", invalidf("%s: %q is not a host:port address with a numeric port", EnvHTTPListen, addr)
	}
	return addr, port, nil
}

// database builds the pool configuration. A full URL wins over the parts;
// the parts are assembled with net/url so a password with '@', '/' or '%'
// is escaped correctly.
func (p parser) database() (*pgxpool.Config, error) {
	full, err := p.secret(EnvDatabaseURL)
	if err != nil {
		return nil, err
	}
	if full != "" {
		cfg, err := pgxpool.ParseConfig(full)
		if err != nil {
			// pgconn redacts the password in its error, but say nothing of the
			// value ourselves: the URL is a secret.
			return nil, invalidf("%s: not a valid PostgreSQL connection URL", EnvDatabaseURL)
		}
		return cfg, nil
	}

	host := p.get(EnvDBHost)
	if host == "" {
		host = DefaultDBHost
	}
	if strings.ContainsAny(host, "/:@?# ") && net.ParseIP(host) == nil {
		return nil, invalidf("%s: %q is not a host name or IP address", EnvDBHost, host)
	}
	port := DefaultDBPort
	if v := p.get(EnvDBPort); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return nil, invalidf("%s: %q is not a port number (1-65535)", EnvDBPort, v)
		}
		port = n
	}
	name := p.get(EnvDBName)
	if name == "" {
		name = DefaultDBName
	}
	user := p.get(EnvDBUser)
	if user == "" {
		user = DefaultDBUser
	}
	password, err := p.secret(EnvDBPassword)
	if err != nil {
		return nil, err
	}
	sslmode := strings.ToLower(p.get(EnvDBSSLMode))
	if sslmode == "" {
		sslmode = DefaultDBSSLMode
	}
	switch sslmode {
	case "disable", "require", "verify-ca", "verify-full", "prefer":
	default:
		return nil, invalidf("%s: %q is not one of disable, require, verify-ca, verify-full, prefer", EnvDBSSLMode, sslmode)
	}

	u := url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + name,
		RawQuery: url.Values{"sslmode": {sslmode}}.Encode(),
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, invalidf("HCW_DB_*: the database settings do not form a valid connection URL")
	}
	return cfg, nil
}

// parseEdgeProxies splits a comma or space separated list into literal
// prefixes (a bare IP becomes a /32 or /128) and host names to resolve.
func parseEdgeProxies(v string) ([]netip.Prefix, []string, error) {
	if v == "" {
		v = DefaultEdgeProxies
	}
	var prefixes []netip.Prefix
	var names []string
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	for _, f := range fields {
		switch {
		case strings.EqualFold(f, "none"):
			// An explicit "none" trusts no proxy at all.
			continue
		case strings.Contains(f, "/"):
			pfx, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, nil, invalidf("%s: %q is not a valid CIDR", EnvEdgeProxies, f)
			}
			prefixes = append(prefixes, pfx.Masked())
		default:
			if addr, err := netip.ParseAddr(f); err == nil {
				addr = addr.Unmap()
				prefixes = append(prefixes, netip.PrefixFrom(addr, addr.BitLen()))
				continue
			}
			name := strings.ToLower(f)
			if !isHostName(name) {
				return nil, nil, invalidf("%s: %q is not a CIDR, IP address or host name", EnvEdgeProxies, f)
			}
			names = append(names, name)
		}
	}
	return prefixes, names, nil
}

// isHostName reports whether s is a DNS host name (RFC 1123 labels), with no
// scheme, port, path or trailing dot.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// invalidf formats a validation error that matches ErrInvalid with errors.Is
// without repeating its text in the one line the operator sees.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// Secret reads one secret the way the service's own settings are read: the
// variable itself or the file its _FILE variant names (not both). It is ""
// when neither is set.
func Secret(lookup LookupFunc, key string) (string, error) {
	return parser{lookup: lookup}.secret(key)
}
