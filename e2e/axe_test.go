package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// Accessibility checks with axe-core (web/package.json's devDependency,
// installed by `cd web && npm ci`): injected into the tab and run on the
// whole document against WCAG 2.0 and 2.1, levels A and AA. Serious and
// critical violations fail the test; moderate and minor ones are logged,
// and with HCW_AXE_REVIEW=1 what axe could not decide too.

// axeFile is axe-core's browser bundle, relative to this package.
var axeFile = filepath.Join("..", "web", "node_modules", "axe-core", "axe.min.js")

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axeFile)
	return string(b), err
})

// axeTags are the rule sets checked: WCAG 2.0 and 2.1, A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

type axeNode struct {
	Target         []any  `json:"target"`
	HTML           string `json:"html"`
	FailureSummary string `json:"failureSummary"`
}

type axeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

// axe checks the tab's current document with axe-core. Every serious or
// critical violation is an error of the test (its rule, what it asks,
// the selectors of every node and a few nodes' HTML); the others are
// logged. screen names the screen in the messages.
func (pg *page) axe(screen string) {
	pg.t.Helper()
	src, err := axeSource()
	if err != nil {
		pg.t.Fatalf("axe-core: %v\nThe e2e suite reads %s: run `cd web && npm ci` first (make test-web does).", err, axeFile)
	}
	loaded, err := evalOn[bool](pg, `typeof window.axe === "object" && typeof window.axe.run === "function"`, 10*time.Second)
	if err != nil {
		pg.fail(fmt.Sprintf("axe (%s): %v", screen, err))
	}
	if !loaded {
		// Evaluated through DevTools, as a script of the page's own: the
		// page's Content-Security-Policy does not apply to it.
		pg.do(30*time.Second, "inject axe-core", chromedp.Evaluate[chromedp.Void](src+"\n;void 0"))
	}
	tags, _ := json.Marshal(axeTags)
	raw, err := evalOn[[]byte](pg, `axe.run(document, {
		runOnly: { type: "tag", values: `+string(tags)+` },
		resultTypes: ["violations", "incomplete"],
	}).then((r) => JSON.stringify({ violations: r.violations, incomplete: r.incomplete }))`, 60*time.Second)
	if err != nil {
		pg.fail(fmt.Sprintf("axe (%s): %v", screen, err))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		pg.t.Fatalf("axe (%s): %v: %s", screen, err, raw)
	}
	var res struct {
		Violations []axeViolation `json:"violations"`
		Incomplete []axeViolation `json:"incomplete"`
	}
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		pg.t.Fatalf("axe (%s): %v: %s", screen, err, s)
	}
	violations := res.Violations
	// What axe could not decide (a text over an image, say): for a person
	// to look at, with HCW_AXE_REVIEW=1.
	if os.Getenv("HCW_AXE_REVIEW") != "" {
		for _, v := range res.Incomplete {
			pg.t.Logf("%s: accessibility (%s), needs review: %s", pg.who, screen, v.describe())
		}
	}
	failed := 0
	for _, v := range violations {
		msg := v.describe()
		if v.Impact == "serious" || v.Impact == "critical" {
			failed++
			pg.t.Errorf("%s: accessibility (%s): %s", pg.who, screen, msg)
		} else {
			pg.t.Logf("%s: accessibility (%s), not failing: %s", pg.who, screen, msg)
		}
	}
	if failed > 0 {
		pg.shot(fmt.Sprintf("A11Y-%s-%s-%s", sanitize(pg.t.Name()), sanitize(pg.who), sanitize(screen)))
	}
}

// describe is a violation in a few lines: rule, impact, what it asks, the
// targets, a few nodes.
func (v axeViolation) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] %s (%s)", v.ID, v.Impact, v.Help, v.HelpURL)
	var targets []string
	for _, n := range v.Nodes {
		var sel []string
		for _, t := range n.Target {
			sel = append(sel, fmt.Sprint(t))
		}
		targets = append(targets, strings.Join(sel, " >>> "))
	}
	fmt.Fprintf(&b, "\n    targets (%d): %s", len(v.Nodes), strings.Join(targets, " | "))
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n    … and %d more", len(v.Nodes)-3)
			break
		}
		html := n.HTML
		if len(html) > 240 {
			html = html[:240] + "…"
		}
		fmt.Fprintf(&b, "\n    - %s\n      %s", html, strings.ReplaceAll(strings.TrimSpace(n.FailureSummary), "\n", "\n      "))
	}
	return b.String()
}
