package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

const adminUsage = "usage: backend admin create --email E [--first-name F] [--last-name L] [--language en]"

// adminCmd runs "backend admin create" and returns the exit code: 0 when
// the account was created, 1 otherwise. Stdout carries the setup link and
// its expiry only; logs and errors go to stderr.
func adminCmd(args []string) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(os.Stderr, adminUsage)
		return 1
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	var p adminCreateParams
	fs.StringVar(&p.Email, "email", "", "the administrator's e-mail address (required)")
	fs.StringVar(&p.FirstName, "first-name", "Admin", "first name")
	fs.StringVar(&p.LastName, "last-name", "Admin", "last name")
	fs.StringVar(&p.Language, "language", "en", "language tag, e.g. en, fr")
	if err := fs.Parse(args[1:]); err != nil {
		return 1
	}
	if p.Email == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, adminUsage)
		return 1
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "config: %v\n", err)
		return 1
	}
	p.AdminHost = cfg.AdminHost
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	pool, err := database.Open(ctx, database.OpenParams{Config: cfg.Database, Logger: logger, Wait: cliDBWait})
	if err == nil {
		defer pool.Close()
		// The first administrator may be created before the service ever
		// started, so bring the schema up to date as serve does.
		err = database.Migrate(ctx, pool, database.Migrations(), logger)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "admin create: %v\n", err)
		return 1
	}
	keys, err := sealed.NewKeyring(cfg.DataKey, cfg.PreviousDataKeys...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "admin create: %v\n", err)
		return 1
	}
	store := account.NewStore(account.Params{Pool: pool, Keys: keys, Audit: audit.NewStore(pool)})
	if err := adminCreate(ctx, store, p, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "admin create: %v\n", err)
		return 1
	}
	return 0
}

// adminCreateParams is the input of adminCreate.
type adminCreateParams struct {
	Email, FirstName, LastName, Language string
	// AdminHost is the admin app's public host name (HCW_ADMIN_HOST).
	AdminHost string
}

// adminCreate creates an active administrator as the system and writes
// the setup link and its expiry to out. The token travels in the URL
// fragment, which browsers send neither to the server nor in Referer, so
// it never lands in an access log.
func adminCreate(ctx context.Context, store *account.Store, p adminCreateParams, out io.Writer) error {
	u, err := store.Create(ctx, account.SystemActor(), account.NewUser{
		Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, Language: p.Language,
		Role: account.RoleAdmin, Status: account.StatusActive,
	})
	if errors.Is(err, account.ErrEmailTaken) {
		return errors.New("an account with this email address already exists")
	}
	if err != nil {
		return err
	}
	token, expires, err := store.IssueToken(ctx, account.SystemActor(), u.ID, account.PurposeSetup, 0)
	if err != nil {
		return fmt.Errorf("account %s created, but no setup link: %w", u.ID, err)
	}
	_, err = fmt.Fprintf(out, "setup link: https://%s/setup#%s\nexpires: %s (in %s)\n",
		p.AdminHost, token, expires.UTC().Format(time.RFC3339), account.DefaultSetupTTL)
	return err
}
