// Command backend is the HCW@Home API and signalling server.
//
//	backend                      serve (also: backend serve)
//	backend healthcheck [--ready] probe the local server (Docker HEALTHCHECK)
//	backend secrets init ...      create missing secrets (one-shot service)
//	backend audit verify          check the audit trail's hash chain (exit 0/1/2)
//	backend admin create --email E create an administrator, print a setup link
//	backend keys rotate [--batch N] re-seal health data with HCW_DATA_KEY (exit 0/1/2)
//	backend openapi               print the OpenAPI document (no database or secret needed)
//	backend version               print the build identity
package main

import (
	"fmt"
	"os"

	"github.com/hcw-home/hcw/backend/internal/version"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve()
	case "healthcheck":
		err = healthcheck(args)
	case "secrets":
		err = secretsCmd(args)
	case "audit":
		os.Exit(auditCmd(args))
	case "admin":
		os.Exit(adminCmd(args))
	case "keys":
		os.Exit(keysCmd(args))
	case "openapi":
		err = openapiCmd(os.Stdout)
	case "version":
		fmt.Printf("%s %s (%s)\n", version.Name, version.Version, version.Commit)
	default:
		err = fmt.Errorf("unknown command %q (want serve, healthcheck, secrets init, audit verify, admin create, keys rotate, openapi, version)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
