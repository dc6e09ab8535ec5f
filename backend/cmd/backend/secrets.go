package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/secrets"
)

func secretsCmd(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: backend secrets init --dir-db DIR --dir-turn DIR --dir-backend DIR --dir-media DIR [--uid N] [--gid N]")
	}
	fs := flag.NewFlagSet("secrets init", flag.ContinueOnError)
	p := secrets.Params{}
	fs.StringVar(&p.DBDir, "dir-db", "", "directory for db_password")
	fs.StringVar(&p.TURNDir, "dir-turn", "", "directory for turn_secret")
	fs.StringVar(&p.BackendDir, "dir-backend", "", "directory for grant keys, session_key, data_key")
	fs.StringVar(&p.MediaDir, "dir-media", "", "directory for media_node_secret (media nodes and backend)")
	fs.IntVar(&p.UID, "uid", secrets.DefaultUID, "owner uid of files and directories")
	fs.IntVar(&p.GID, "gid", secrets.DefaultGID, "owner gid of files and directories")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if p.DBDir == "" || p.TURNDir == "" || p.BackendDir == "" || p.MediaDir == "" {
		return errors.New("secrets init: --dir-db, --dir-turn, --dir-backend and --dir-media are required")
	}
	p.Logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	// An operator may supply any secret (HCW_TURN_SECRET or
	// HCW_TURN_SECRET_FILE, ...) instead of having it generated.
	p.Supplied = map[string][]byte{}
	for name, variable := range secrets.SuppliedVariables {
		v, err := config.Secret(os.LookupEnv, variable)
		if err != nil {
			return fmt.Errorf("secrets init: %w", err)
		}
		if v != "" {
			p.Supplied[name] = []byte(v)
		}
	}
	return secrets.Init(p)
}
