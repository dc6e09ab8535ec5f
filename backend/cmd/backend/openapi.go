package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// openapiCmd prints the OpenAPI document of the API to w: the web build
// generates its TypeScript types from it. It builds the router exactly as
// serve does (buildAPI) but needs no database and no secret: the
// configuration is the defaults with throwaway secrets, the pool never
// connects, and no worker starts. The routes depend on none of these.
func openapiCmd(w io.Writer) error {
	doc, err := openapiDocument()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// openapiDocument builds the document the server serves at
// /api/v1/openapi.json.
func openapiDocument() (map[string]any, error) {
	env, err := throwawaySecrets()
	if err != nil {
		return nil, err
	}
	// Only the throwaway secrets: the caller's environment (a developer's
	// shell, a CI job) plays no part in the document.
	cfg, err := config.Parse(func(key string) (string, bool) { v, ok := env[key]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	keyring, err := sealed.NewKeyring(cfg.DataKey)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A pool connects lazily; this one is never used.
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	defer pool.Close()
	logger := slog.New(slog.DiscardHandler)
	base := httpapi.Params{Logger: logger, Edge: clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}), AppHosts: cfg.AppHosts()}
	api, err := buildAPI(ctx, cfg, base, pool, keyring, mail.Disabled{}, realtime.NewHub(), nil, logger)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return api.router.OpenAPI(), nil
}

// throwawaySecrets are valid values, used once and forgotten, for the
// variables the configuration requires.
func throwawaySecrets() (map[string]string, error) {
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return map[string]string{
		config.EnvDataKey:         random(sealed.KeySize),
		config.EnvGrantSigningKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		config.EnvTURNSecret:      random(32),
		config.EnvMediaNodeSecret: random(32),
	}, nil
}
