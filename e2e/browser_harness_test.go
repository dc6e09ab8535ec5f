package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser harness: one Chromium per test, one browser context (own
// cookies and storage) per person, the way a doctor and a patient each
// have their own device. Chromium reaches the appliance exactly as a
// browser on the appliance's machine does: https://<app>.localhost with no
// port (the default 443), wss://media.localhost for signalling and
// turns:turn.localhost:443 for TURN over TLS. A loopback forwarder stands in
// for the edge's port 443 (Docker publishes it on a random port here), and
// --host-resolver-rules sends every *.localhost name to it.

// edgeForwarder accepts on a loopback address of its own, port 443, and
// pipes every connection to the port Docker published for the edge's 443.
type edgeForwarder struct {
	ip    string
	ln    []net.Listener
	conns atomic.Int64
}

func startEdgeForwarder(t *testing.T) *edgeForwarder {
	t.Helper()
	target := stack.hostPort(t, "edge", "443/tcp")
	f := &edgeForwarder{}
	// A random 127.x.y.z of its own: no other test run on this machine
	// (nor anything on 127.0.0.1:443) is in the way.
	var ln net.Listener
	var err error
	for range 20 {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(250), 1+rand.IntN(250), 2+rand.IntN(250))
		if ln, err = net.Listen("tcp", ip+":443"); err == nil {
			f.ip = ip
			break
		}
	}
	if ln == nil {
		t.Fatalf("no loopback address for port 443 (run as root or with CAP_NET_BIND_SERVICE): %v", err)
	}
	f.ln = append(f.ln, ln)
	for _, l := range f.ln {
		go f.serve(l, target)
	}
	t.Cleanup(func() {
		for _, l := range f.ln {
			l.Close()
		}
	})
	return f
}

func (f *edgeForwarder) serve(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp", target, 10*time.Second)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// browser is one Chromium with fake camera and microphone.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts Chromium for this test and closes it at the end;
// extra flags go after the defaults.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	fwd := startEdgeForwarder(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHashes(t)),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost "+fwd.ip),
		// Fake camera (a test pattern) and microphone (a beep), granted
		// without a prompt; remote audio plays without a click.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Real host candidates (no mDNS names, which the media node cannot
		// resolve) and loopback ones (the node announces 127.0.0.1).
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	start, cancelStart := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelStart()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-start.Done():
		t.Fatal("chromium did not start within 60 s")
	}
	return &browser{t: t, ctx: ctx}
}

// person is one browser context: its own cookies, storage and tabs.
type person struct {
	b    *browser
	name string
	ctx  context.Context
}

func (b *browser) person(name string) *person {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("%s: new browser context: %v", name, err)
	}
	return &person{b: b, name: name, ctx: ctx}
}

// page is one tab of a person.
type page struct {
	t      *testing.T
	who    string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string // uncaught exceptions and CSP violations
	console  []string
	reported map[string]bool // elements reported without a focus indicator (keyboard_test.go)
}

// tab opens a new tab for the person, with an optional setup action that
// runs before any page loads (viewport emulation, say).
func (p *person) tab(setup ...chromedp.Action[chromedp.Void]) *page {
	t := p.b.t
	t.Helper()
	// A window of its own: a background tab is hidden, and a hidden page
	// pauses the remote video of its call (by design).
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithNewWindow(true))
	pg := &page{t: t, who: p.name, ctx: ctx, cancel: cancel}
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("%s: new tab: %v", p.name, err)
	}
	// CSP violations and uncaught errors of every page this tab loads.
	// ICE trouble of the page's peer connections, for the failure report.
	const watch = `document.addEventListener("securitypolicyviolation", (e) => {
		(window.__hcwViolations = window.__hcwViolations || []).push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "") + ":" + e.lineNumber);
	});
	(() => {
		const Native = window.RTCPeerConnection;
		if (!Native) return;
		const log = (window.__hcwIce = []);
		const pcs = (window.__hcwPcs = []);
		window.RTCPeerConnection = class extends Native {
			constructor(config) {
				super(config);
				pcs.push(this);
				log.push("pc " + JSON.stringify({ policy: config && config.iceTransportPolicy, servers: ((config && config.iceServers) || []).map((s) => s.urls) }));
				this.addEventListener("icecandidateerror", (e) => log.push("candidate error " + e.url + " " + e.errorCode + " " + e.errorText));
				this.addEventListener("icecandidate", (e) => e.candidate && log.push("candidate " + e.candidate.candidate));
				this.addEventListener("iceconnectionstatechange", () => log.push("ice " + this.iceConnectionState));
			}
		};
	})();`
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: watch}); err != nil {
		t.Fatalf("%s: add script: %v", p.name, err)
	}
	// HCW_E2E_COLOR_SCHEME=dark runs the apps in their dark theme (the
	// accessibility checks then check its contrast).
	if scheme := os.Getenv("HCW_E2E_COLOR_SCHEME"); scheme != "" {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatalf("%s: color scheme %s: %v", p.name, scheme, err)
		}
	}
	// Failed requests (not the offline test's), with their URL.
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	failed := chromedp.Events(ctx, network.LoadingFailed)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("%s: network enable: %v", p.name, err)
	}
	var urls sync.Map
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			urls.Store(ev.RequestID, ev.Request.Method+" "+ev.Request.URL)
		}
	}()
	go func() {
		for ev, err := range failed {
			if err != nil {
				return
			}
			u, _ := urls.Load(ev.RequestID)
			if ev.Canceled {
				continue // the app aborted it (a body it did not need)
			}
			pg.mu.Lock()
			pg.console = append(pg.console, fmt.Sprintf("request failed: %v: %s (canceled %v, blocked %q)", u, ev.ErrorText, ev.Canceled, ev.BlockedReason))
			pg.mu.Unlock()
		}
	}()
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	consoles := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			pg.mu.Lock()
			pg.problems = append(pg.problems, "uncaught: "+msg)
			pg.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range consoles {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
				continue
			}
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			pg.mu.Lock()
			pg.console = append(pg.console, string(ev.Type)+": "+strings.Join(parts, " "))
			pg.mu.Unlock()
		}
	}()
	if len(setup) > 0 {
		pg.do(20*time.Second, "setup", setup...)
	}
	if vis := js[string](pg, `document.visibilityState`); vis != "visible" {
		t.Logf("%s: the new tab is %s", p.name, vis)
	}
	t.Cleanup(pg.report)
	return pg
}

// close closes the tab, like a person closing it.
func (pg *page) close() {
	pg.report()
	pg.cancel()
}

// report logs the tab's console errors and fails on CSP violations and
// uncaught exceptions.
func (pg *page) report() {
	pg.mu.Lock()
	problems, console := pg.problems, pg.console
	pg.problems, pg.console = nil, nil
	pg.mu.Unlock()
	for _, c := range console {
		pg.t.Logf("%s console %s", pg.who, c)
	}
	for _, p := range problems {
		pg.t.Errorf("%s: %s", pg.who, p)
	}
}

// checkCSP fails the test for every CSP violation the current document saw.
func (pg *page) checkCSP() {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__hcwViolations || []`))
	if err != nil {
		pg.t.Errorf("%s: read CSP violations: %v", pg.who, err)
		return
	}
	for _, s := range v {
		pg.t.Errorf("%s: CSP violation: %s", pg.who, s)
	}
}

// do runs actions with a deadline and fails the test with a screenshot
// of the tab when they fail.
func (pg *page) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		pg.fail(fmt.Sprintf("%s: %v", what, err))
	}
}

func (pg *page) fail(msg string) {
	pg.t.Helper()
	name := fmt.Sprintf("FAILED-%s-%s", sanitize(pg.t.Name()), sanitize(pg.who))
	pg.shot(name)
	pg.report()
	text, err := evalOn[string](pg, `document.body ? document.body.innerText.slice(0, 3000) : ""`, 5*time.Second)
	if err != nil {
		text = err.Error()
	}
	pg.t.Fatalf("%s: %s\n--- page text ---\n%s", pg.who, msg, text)
}

func (pg *page) navigate(url string) {
	pg.t.Helper()
	pg.do(30*time.Second, "navigate "+url, chromedp.Navigate(url))
}

// waitVisible waits for a CSS selector to be visible.
func (pg *page) waitVisible(sel string, timeout time.Duration) {
	pg.t.Helper()
	pg.do(timeout, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// click waits for the element to be visible and enabled, then clicks it.
func (pg *page) click(sel string) {
	pg.t.Helper()
	pg.do(30*time.Second, "click "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.WaitEnabled(chromedp.CSS(sel)),
		chromedp.Click(chromedp.CSS(sel)),
	)
}

// fill types text into a field (real key events, as a person types).
func (pg *page) fill(sel, text string) {
	pg.t.Helper()
	pg.do(30*time.Second, "type into "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text),
	)
}

// choose sets a <select>'s value the way a choice in its list does: the
// value, then input and change events (which the Preact apps listen to),
// and checks that the option exists.
func (pg *page) choose(sel, value string) {
	pg.t.Helper()
	pg.do(15*time.Second, fmt.Sprintf("choose %q in %s", value, sel),
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const s = document.querySelector(%s);
			if (![...s.options].some((o) => o.value === %s)) throw new Error("no option " + %s + " in " + [...s.options].map((o) => o.value));
			s.value = %s;
			s.dispatchEvent(new Event("input", { bubbles: true }));
			s.dispatchEvent(new Event("change", { bubbles: true }));
		})()`, jsString(sel), jsString(value), jsString(value), jsString(value))))
	if got := js[string](pg, `document.querySelector(`+jsString(sel)+`).value`); got != value {
		pg.fail(fmt.Sprintf("%s holds %q after choosing %q", sel, got, value))
	}
}

// text is the visible text of an element.
func (pg *page) text(sel string) string {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		pg.fail(fmt.Sprintf("text of %s: %v", sel, err))
	}
	return s
}

// waitJS polls a JavaScript expression until it is truthy.
func (pg *page) waitJS(what, expr string, timeout time.Duration) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!(`+expr+`)`, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		pg.fail(fmt.Sprintf("%s (%s) not true within %s: %v", what, expr, timeout, err))
	}
}

// waitText waits until an element's text contains want.
func (pg *page) waitText(sel, want string, timeout time.Duration) {
	pg.t.Helper()
	b, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	pg.waitJS(fmt.Sprintf("%s shows %q", sel, want),
		fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").includes(%s)`, b, w), timeout)
}

// js evaluates an expression (awaiting a promise) into T.
func js[T any](pg *page, expr string) T {
	pg.t.Helper()
	v, err := evalOn[T](pg, expr, 20*time.Second)
	if err != nil {
		pg.fail(fmt.Sprintf("evaluate %s: %v", expr, err))
	}
	return v
}

func evalOn[T any](pg *page, expr string, timeout time.Duration) (T, error) {
	ctx, cancel := context.WithTimeout(pg.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// shot writes a screenshot of the tab to e2e/artifacts/<name>.png.
func (pg *page) shot(name string) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		pg.t.Logf("%s: screenshot %s: %v", pg.who, name, err)
		return
	}
	pg.writeShot(name, buf)
}

// shotOf writes a screenshot of one element (a section of a long page) to
// e2e/artifacts/<name>.png.
func (pg *page) shotOf(sel, name string) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		pg.t.Logf("%s: screenshot %s of %s: %v", pg.who, name, sel, err)
		return
	}
	pg.writeShot(name, buf)
}

func (pg *page) writeShot(name string, buf []byte) {
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		pg.t.Logf("artifacts: %v", err)
		return
	}
	ext := ".png"
	if len(buf) > 2 && buf[0] == 0xff && buf[1] == 0xd8 {
		ext = ".jpg"
	}
	if err := os.WriteFile(filepath.Join("artifacts", name+ext), buf, 0o644); err != nil {
		pg.t.Logf("write screenshot: %v", err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string { return unsafeName.ReplaceAllString(s, "_") }

// cookie returns the session cookie the browser holds for an app host
// (HttpOnly: only the browser itself, or DevTools, can read it).
func (pg *page) cookie(host string) *http.Cookie {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{"https://" + host + "/"}})
	if err != nil {
		pg.fail(fmt.Sprintf("cookies: %v", err))
	}
	for _, c := range res.Cookies {
		if c.Name == "__Host-hcw_session" {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	pg.fail("no session cookie for " + host)
	return nil
}

// setOffline cuts (or restores) the tab's network: requests, sockets and
// peer connections (network conditions with an empty URL pattern apply to
// p2p too), and navigator.onLine with its offline/online events.
func (pg *page) setOffline(offline bool) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	conds := []*network.Conditions{}
	if offline {
		conds = append(conds, &network.Conditions{URLPattern: "", Offline: true, Latency: 0, DownloadThroughput: -1, UploadThroughput: -1})
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		pg.fail(fmt.Sprintf("network enable: %v", err))
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: conds}); err != nil {
		pg.fail(fmt.Sprintf("network conditions: %v", err))
	}
	if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		pg.fail(fmt.Sprintf("network state: %v", err))
	}
}

// ---------------------------------------------------------------- calls in the page

// pageCallStats is window.hcwCallStats()'s answer.
type pageCallStats struct {
	Inbound []struct {
		TrackID         string `json:"trackId"`
		Participant     string `json:"participant"`
		Kind            string `json:"kind"`
		PacketsReceived int64  `json:"packetsReceived"`
		BytesReceived   int64  `json:"bytesReceived"`
		FramesDecoded   int64  `json:"framesDecoded"`
	} `json:"inbound"`
	Transport struct {
		Pub *candidatePair `json:"pub"`
		Sub *candidatePair `json:"sub"`
	} `json:"transport"`
	Video struct {
		Width  int64   `json:"width"`
		Frames int64   `json:"frames"`
		Time   float64 `json:"time"`
	} `json:"video"`
}

type candidatePair struct {
	LocalType     string `json:"localType"`
	RemoteType    string `json:"remoteType"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"`
}

const callStatsJS = `(async () => {
	if (typeof window.hcwCallStats !== "function") return null;
	const s = await window.hcwCallStats();
	const v = document.getElementById("remote-video");
	s.video = v ? { width: v.videoWidth, frames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0, time: v.currentTime } : { width: 0, frames: 0, time: 0 };
	return s;
})()`

func (pg *page) callStats() (*pageCallStats, error) {
	raw, err := evalOn[[]byte](pg, callStatsJS, 15*time.Second)
	if err != nil {
		return nil, err
	}
	if string(raw) == "null" || len(raw) == 0 {
		return nil, errors.New("no call on the page (window.hcwCallStats missing)")
	}
	var s pageCallStats
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: %s", err, raw)
	}
	return &s, nil
}

// perParticipant sums a kind's counter per remote participant.
func (s *pageCallStats) perParticipant(kind string, frames bool) map[string]int64 {
	out := map[string]int64{}
	for _, in := range s.Inbound {
		if in.Kind != kind {
			continue
		}
		if frames {
			out[in.Participant] += in.FramesDecoded
		} else {
			out[in.Participant] += in.PacketsReceived
		}
	}
	return out
}

// waitMedia waits until, between two samples a second apart, video frames
// were decoded and audio packets arrived from at least `remotes` other
// participants, and the main remote <video> shows frames that advance.
func (pg *page) waitMedia(remotes int, timeout time.Duration) *pageCallStats {
	pg.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s1, err := pg.callStats()
		if err != nil {
			last = err
			time.Sleep(500 * time.Millisecond)
			continue
		}
		time.Sleep(1200 * time.Millisecond)
		s2, err := pg.callStats()
		if err != nil {
			last = err
			continue
		}
		last = mediaFlowing(s1, s2, remotes)
		if last == nil {
			pg.t.Logf("%s receives: video frames decoded %v, audio packets %v, #remote-video %dpx wide, transport pub %+v sub %+v",
				pg.who, s2.perParticipant("video", true), s2.perParticipant("audio", false), s2.Video.Width, s2.Transport.Pub, s2.Transport.Sub)
			return s2
		}
	}
	ice, _ := evalOn[[]string](pg, `window.__hcwIce || []`, 5*time.Second)
	if len(ice) > 60 {
		ice = ice[len(ice)-60:]
	}
	pg.fail(fmt.Sprintf("media not flowing within %s: %v\n--- ICE ---\n%s", timeout, last, strings.Join(ice, "\n")))
	return nil
}

func mediaFlowing(s1, s2 *pageCallStats, remotes int) error {
	f1, f2 := s1.perParticipant("video", true), s2.perParticipant("video", true)
	a1, a2 := s1.perParticipant("audio", false), s2.perParticipant("audio", false)
	video, audio := 0, 0
	for p, n := range f2 {
		if n > f1[p] {
			video++
		}
	}
	for p, n := range a2 {
		if n > a1[p] {
			audio++
		}
	}
	if video < remotes || audio < remotes {
		return fmt.Errorf("frames decoded %v -> %v, audio packets %v -> %v: want %d participants each", f1, f2, a1, a2, remotes)
	}
	if s2.Video.Width == 0 || s2.Video.Frames <= s1.Video.Frames && s2.Video.Time <= s1.Video.Time {
		return fmt.Errorf("#remote-video does not advance: %+v -> %+v", s1.Video, s2.Video)
	}
	return nil
}

// ---------------------------------------------------------------- screen shares

// screenSample is what a page shows of a remote screen share: the
// #remote-screen element, and the inbound RTP stream of the track it plays
// (found by its trackIdentifier in the page's peer connections).
type screenSample struct {
	Present     bool    `json:"present"`
	Layout      string  `json:"layout"`
	Track       string  `json:"track"`
	Width       int64   `json:"width"`
	Height      int64   `json:"height"`
	Frames      int64   `json:"frames"`
	Time        float64 `json:"time"`
	Decoded     int64   `json:"decoded"` // -1: no inbound stream for the track
	FrameWidth  int64   `json:"frameWidth"`
	FrameHeight int64   `json:"frameHeight"`
	Shown       float64 `json:"shown"`     // #remote-screen's width on the page, CSS px
	CallWidth   float64 `json:"callWidth"` // the call's width on the page
}

const screenSampleJS = `(async () => {
	const call = document.querySelector("section.hcw-call");
	const layout = call?.dataset.layout ?? "";
	const v = document.getElementById("remote-screen");
	if (!v) return { present: false, layout, decoded: -1 };
	const track = v.srcObject && v.srcObject.getVideoTracks ? v.srcObject.getVideoTracks()[0] : undefined;
	const out = { present: true, layout, track: track ? track.id : "", width: v.videoWidth, height: v.videoHeight,
		frames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0, time: v.currentTime,
		decoded: -1, frameWidth: 0, frameHeight: 0,
		shown: v.getBoundingClientRect().width, callWidth: call ? call.getBoundingClientRect().width : 0 };
	if (!track) return out;
	for (const pc of window.__hcwPcs || []) {
		if (pc.connectionState === "closed") continue;
		(await pc.getStats()).forEach((s) => {
			if (s.type === "inbound-rtp" && s.trackIdentifier === track.id) {
				out.decoded = s.framesDecoded || 0;
				out.frameWidth = s.frameWidth || 0;
				out.frameHeight = s.frameHeight || 0;
			}
		});
	}
	return out;
})()`

func (pg *page) screenSample() (*screenSample, error) {
	raw, err := evalOn[[]byte](pg, screenSampleJS, 15*time.Second)
	if err != nil {
		return nil, err
	}
	var s screenSample
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: %s", err, raw)
	}
	return &s, nil
}

// waitScreen waits until the page shows a remote screen share on the main
// stage (layout "screen", at least half the call's width) whose frames,
// between two samples a second apart, are decoded (the track's inbound
// RTP stream) and advance in the #remote-screen element.
func (pg *page) waitScreen(timeout time.Duration) *screenSample {
	pg.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s1, err := pg.screenSample()
		if err != nil || !s1.Present {
			last = fmt.Errorf("no #remote-screen (%v, %+v)", err, s1)
			time.Sleep(500 * time.Millisecond)
			continue
		}
		time.Sleep(1200 * time.Millisecond)
		s2, err := pg.screenSample()
		if err != nil || !s2.Present {
			last = fmt.Errorf("#remote-screen went away (%v)", err)
			continue
		}
		switch {
		case s2.Layout != "screen":
			last = fmt.Errorf("the call's layout is %q, want screen", s2.Layout)
		case s2.Track == "" || s2.Track != s1.Track:
			last = fmt.Errorf("#remote-screen plays track %q, then %q", s1.Track, s2.Track)
		case s1.Decoded < 0 || s2.Decoded < 0:
			last = fmt.Errorf("no inbound RTP stream for the screen track %s", s2.Track)
		case s2.Decoded <= s1.Decoded:
			last = fmt.Errorf("screen frames decoded %d -> %d", s1.Decoded, s2.Decoded)
		case s2.Width == 0 || s2.Frames <= s1.Frames && s2.Time <= s1.Time:
			last = fmt.Errorf("#remote-screen does not advance: %+v -> %+v", s1, s2)
		case s2.Shown < s2.CallWidth/2:
			// On the main stage: at least half the call's width.
			last = fmt.Errorf("#remote-screen is %.0f px wide in a call %.0f px wide", s2.Shown, s2.CallWidth)
		default:
			pg.t.Logf("%s receives the screen share: %d frames decoded (+%d in %s), %dx%d, #remote-screen %dx%d shown %.0f px wide in a call %.0f px wide",
				pg.who, s2.Decoded, s2.Decoded-s1.Decoded, 1200*time.Millisecond, s2.FrameWidth, s2.FrameHeight, s2.Width, s2.Height, s2.Shown, s2.CallWidth)
			return s2
		}
	}
	pg.fail(fmt.Sprintf("screen share not shown within %s: %v", timeout, last))
	return nil
}
