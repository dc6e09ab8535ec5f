package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Keyboard operation (WCAG 2.1 2.1.1 Keyboard, 2.4.3 Focus Order, 2.4.7
// Focus Visible): the helpers below move and act with key events only,
// the way DevTools' Input.dispatchKeyEvent delivers them to the page (as a
// keyboard does): no mouse event and no element.click() from JavaScript.
// JavaScript only reads the page (document.activeElement, its style).

// focusState is what the page says about its focused element.
type focusState struct {
	Desc      string `json:"desc"`      // tag#id.class "text", for messages
	Lost      bool   `json:"lost"`      // nothing focused: <body>, or an element no longer in the page
	Matches   bool   `json:"matches"`   // it matches the selector asked about
	Indicator bool   `json:"indicator"` // a visible focus indicator: outline or box-shadow, on an element with a size
	Style     string `json:"style"`     // its outline and box-shadow, for messages
	OnScreen  bool   `json:"onScreen"`  // inside the viewport
	Tabbable  bool   `json:"tabbable"`  // in the Tab order (tabindex >= 0), not a target the app focuses
}

// focusJS reads the focused element; %s is the selector (a JSON string)
// it is matched against, or null.
const focusJS = `((sel) => {
	const a = document.activeElement;
	const desc = (el) => {
		if (!el) return "(none)";
		if (el === document.body) return "<body>";
		let s = el.tagName.toLowerCase();
		if (el.id) s += "#" + el.id;
		else if (typeof el.className === "string" && el.className.trim()) s += "." + el.className.trim().split(/\s+/).join(".");
		const text = (el.getAttribute("aria-label") || el.value || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
		if (text && el.tagName !== "MAIN") s += " " + JSON.stringify(text);
		return s;
	};
	const lost = !a || a === document.body || a === document.documentElement || !a.isConnected;
	let indicator = false, style = "", onScreen = false;
	if (!lost) {
		const cs = getComputedStyle(a);
		const r = a.getBoundingClientRect();
		const sized = r.width > 0 && r.height > 0;
		onScreen = sized && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
		const transparent = (c) => c === "transparent" || /rgba\([^)]*,\s*0\)$/.test(c);
		const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0 && !transparent(cs.outlineColor);
		const shadow = cs.boxShadow !== "" && cs.boxShadow !== "none";
		indicator = sized && (outline || shadow);
		style = "outline: " + cs.outlineStyle + " " + cs.outlineWidth + " " + cs.outlineColor + "; box-shadow: " + cs.boxShadow;
	}
	return { desc: desc(a), lost, matches: !lost && !!sel && a.matches(sel), indicator, style, onScreen, tabbable: !lost && a.tabIndex >= 0 };
})(%s)`

// focus reads the focused element, matched against sel ("" for none).
func (pg *page) focus(sel string) focusState {
	pg.t.Helper()
	arg := "null"
	if sel != "" {
		arg = jsString(sel)
	}
	raw := js[json.RawMessage](pg, fmt.Sprintf(focusJS, arg))
	var f focusState
	if err := json.Unmarshal(raw, &f); err != nil {
		pg.fail(fmt.Sprintf("focus state: %v: %s", err, raw))
	}
	return f
}

// keyboard readies the tab for key events: the page behaves as the
// focused window whatever window the browser has in front (the doctor's
// and the patient's windows are both "focused", as on two devices).
func (pg *page) keyboard() {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		pg.fail(fmt.Sprintf("focus emulation: %v", err))
	}
}

// keyName names a key or a text for messages.
func keyName(keys string) string {
	switch keys {
	case kb.Tab:
		return "Tab"
	case kb.Enter:
		return "Enter"
	case kb.Escape:
		return "Escape"
	case " ":
		return "Space"
	case kb.ArrowDown:
		return "ArrowDown"
	case kb.ArrowUp:
		return "ArrowUp"
	case kb.ArrowLeft:
		return "ArrowLeft"
	case kb.ArrowRight:
		return "ArrowRight"
	}
	return fmt.Sprintf("%q", keys)
}

// keyEvents are the events a keyboard sends for keys: for each key a
// keydown that carries the character it types (so that a keydown handler
// that prevents the default also prevents the typing, as with a real
// keyboard: chromedp.KeyEvent sends the character in a separate "char"
// event, which Enter in a textarea would type even after a handler
// prevented it), or a raw keydown for a key that types nothing, then a
// keyup.
func keyEvents(keys string, modifiers int64) []input.DispatchKeyEventParams {
	var out []input.DispatchKeyEventParams
	for _, r := range keys {
		var down, up input.DispatchKeyEventParams
		text, unmodified := "", ""
		for _, e := range kb.Encode(r) {
			switch e.Type {
			case kb.KeyDown:
				down = *e
			case kb.KeyChar:
				text, unmodified = e.Text, e.UnmodifiedText
			case kb.KeyUp:
				up = *e
			}
		}
		down.Modifiers |= modifiers
		up.Modifiers |= modifiers
		if text != "" && modifiers&^int64(chromedp.ModifierShift) == 0 {
			down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, text, unmodified
		} else {
			down.Type = input.DispatchKeyEventTypeRawKeyDown
		}
		out = append(out, down, up)
	}
	return out
}

func (pg *page) press(keys string, modifiers int64, name string) {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 20*time.Second)
	defer cancel()
	for _, e := range keyEvents(keys, modifiers) {
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, e); err != nil {
			pg.fail(fmt.Sprintf("press %s: %v", name, err))
		}
	}
}

// key presses keys (kb.Tab, kb.Enter, " ", kb.ArrowDown, … or a text,
// typed a character at a time) in whatever element has the focus.
func (pg *page) key(keys string) {
	pg.t.Helper()
	pg.press(keys, 0, keyName(keys))
}

// shiftTab presses Shift+Tab.
func (pg *page) shiftTab() {
	pg.t.Helper()
	pg.press(kb.Tab, int64(chromedp.ModifierShift), "Shift+Tab")
}

// tabTo presses Tab until the focused element matches sel (not at all if
// it already does), at most max times; it fails with the sequence of
// focused elements if it does not get there. Every element the focus
// visits on the way must show a visible focus indicator.
func (pg *page) tabTo(sel string, max int) {
	pg.t.Helper()
	pg.moveFocus(sel, max, false)
}

// shiftTabTo is tabTo backwards, with Shift+Tab.
func (pg *page) shiftTabTo(sel string, max int) {
	pg.t.Helper()
	pg.moveFocus(sel, max, true)
}

func (pg *page) moveFocus(sel string, max int, back bool) {
	pg.t.Helper()
	pg.waitVisible(sel, 20*time.Second)
	key := "Tab"
	if back {
		key = "Shift+Tab"
	}
	f := pg.focus(sel)
	seq := []string{f.Desc}
	for i := 0; !f.Matches; i++ {
		if i == max {
			pg.fail(fmt.Sprintf("%s does not reach %s within %d presses; the focus went: %s", key, sel, max, strings.Join(seq, " → ")))
		}
		if back {
			pg.shiftTab()
		} else {
			pg.key(kb.Tab)
		}
		f = pg.focus(sel)
		seq = append(seq, f.Desc)
		pg.checkIndicator(f)
	}
	pg.t.Logf("%s: %s to %s: %s", pg.who, key, sel, strings.Join(seq, " → "))
}

// checkIndicator: a focused element in the Tab order shows where the
// focus is (a heading or <main> the app moves the focus to, with
// tabindex -1, need not). Each element is reported once.
func (pg *page) checkIndicator(f focusState) {
	pg.t.Helper()
	if f.Lost || f.Indicator || !f.Tabbable {
		return
	}
	pg.mu.Lock()
	if pg.reported == nil {
		pg.reported = map[string]bool{}
	}
	seen := pg.reported[f.Desc]
	pg.reported[f.Desc] = true
	pg.mu.Unlock()
	if !seen {
		pg.t.Errorf("%s: %s has the focus but no visible focus indicator (%s)", pg.who, f.Desc, f.Style)
	}
}

// expectFocus waits (up to 5 s: the apps move the focus after they
// render) until the focused element matches sel, and fails if it does
// not. The element must show its focus.
// A miss is an error of the test, which goes on (the next tabTo finds
// its way from where the focus is).
func (pg *page) expectFocus(sel, after string) bool {
	pg.t.Helper()
	f := pg.waitFocus(sel, 5*time.Second)
	if !f.Matches {
		pg.shot(fmt.Sprintf("FOCUS-%s-%s-%s", sanitize(pg.t.Name()), sanitize(pg.who), sanitize(after)))
		pg.t.Errorf("%s: after %s the focus is on %s, want %s", pg.who, after, f.Desc, sel)
		return false
	}
	pg.checkIndicator(f)
	return true
}

// skipLink: on a page just opened, the first Tab stop is the skip link,
// on screen while it has the focus, and Enter on it moves the focus to
// the main content.
func (pg *page) skipLink(r *rig) {
	pg.t.Helper()
	pg.key(kb.Tab)
	if !pg.expectFocus("a.hcw-skip", "the first Tab") {
		pg.shiftTabTo("a.hcw-skip", 10)
	}
	if f := pg.focus("a.hcw-skip"); !f.OnScreen {
		pg.t.Errorf("%s: the focused skip link is not on screen", pg.who)
	}
	if name := js[string](pg, `document.activeElement.textContent.trim()`); name != "Skip to main content" {
		pg.t.Errorf("%s: the skip link says %q", pg.who, name)
	}
	r.shot(pg, pg.who+"-skip-link")
	pg.key(kb.Enter)
	pg.expectFocus("main#main", "Enter on the skip link")
}

// focusKept checks that, after a key press that changed the screen, the
// focus is somewhere in the page, not lost to <body> (where the next Tab
// starts from the top of the page, and a screen reader says nothing).
// The apps move it after they render: up to 3 s. A loss is an error of
// the test, which goes on.
func (pg *page) focusKept(after string) focusState {
	pg.t.Helper()
	f := pg.waitFocus("", 3*time.Second)
	if f.Lost {
		r := fmt.Sprintf("FOCUS-LOST-%s-%s-%s", sanitize(pg.t.Name()), sanitize(pg.who), sanitize(after))
		pg.shot(r)
		pg.t.Errorf("%s: after %s the focus is lost (%s)", pg.who, after, f.Desc)
	} else {
		pg.t.Logf("%s: after %s the focus is on %s", pg.who, after, f.Desc)
	}
	return f
}

// waitFocus polls the focus until it matches sel (or, with sel "", is
// not lost), or the timeout passes; it returns the last state.
func (pg *page) waitFocus(sel string, timeout time.Duration) focusState {
	pg.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := pg.focus(sel)
		if (sel == "" && !f.Lost) || (sel != "" && f.Matches) || time.Now().After(deadline) {
			return f
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestJourneyKeyboard: the patient and the doctor do the core journey with
// the keyboard alone. The patient opens the invite link (the skip link is
// the first Tab stop and moves the focus to the main content), accepts the
// terms, tries the pre-call check in the waiting room and writes in the
// chat; the doctor invites (the keyboard from a reloaded dashboard),
// accepts the patient from the waiting list, answers in the chat and
// starts a video call; the patient accepts the ringing call, passes the
// pre-call check, mutes and unmutes the microphone and leaves; the doctor
// closes the consultation through its confirmation dialog (the focus goes
// in on Cancel, Escape cancels and gives the focus back to Close, then the
// doctor confirms); the patient rates with the arrow keys on the feedback
// form and sends it. Every element the focus visits shows a focus
// indicator, and after every key press that changes the screen the focus
// is still in the page.
func TestJourneyKeyboard(t *testing.T) {
	r := newRig(t, "keyboard")
	d := r.doctor
	d.keyboard()

	// ---- the doctor invites, from a freshly loaded dashboard
	d.navigate("https://doctor.localhost/")
	d.waitVisible("#invite-create", 30*time.Second)
	d.waitVisible("#waiting-list", 30*time.Second)
	d.skipLink(r)
	first, last := "Kim", "Keyboard"
	email := fmt.Sprintf("patient%d@example.net", time.Now().UnixNano())
	seen := r.mb.ids(t)
	d.tabTo("#invite-first-name", 40)
	d.key(first)
	d.tabTo("#invite-last-name", 2)
	d.key(last)
	d.tabTo("#invite-email", 2)
	d.key(email)
	d.tabTo("#invite-create", 4)
	r.shot(d, "doctor-invite-focused")
	d.key(kb.Enter)
	d.waitVisible("#invite-link", 20*time.Second)
	// The create button is disabled once the form is emptied: the focus
	// goes to the link, selected for copying.
	d.expectFocus("#invite-link", "sending the invitation")
	msg := r.mb.waitNew(t, seen, email, 30*time.Second)
	m := inviteLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no invite link in the mail: %q", msg.Text)
	}

	// ---- the patient: skip link, terms
	pp := r.b.person("patient")
	p := pp.tab()
	p.keyboard()
	p.navigate(m[0])
	p.waitVisible("#terms-accept", 30*time.Second)
	p.checkCSP()
	p.skipLink(r)
	p.tabTo("#terms-accept", 3)
	p.key(" ")
	p.waitJS("the terms box is ticked", `document.getElementById("terms-accept").checked`, 5*time.Second)
	p.tabTo("#terms-submit", 3)
	r.shot(p, "patient-terms")
	p.key(kb.Enter)
	p.waitVisible("#queue-position", 30*time.Second)
	p.focusKept("accepting the terms")
	r.shot(p, "patient-waiting-room")

	// ---- the pre-call check in the waiting room, open and closed again
	p.tabTo("#precall-open", 20)
	p.key(kb.Enter)
	p.waitJS("the pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	p.expectFocus("#precall-title", "opening the pre-call check")
	p.tabTo("#precall-continue", 15)
	r.shot(p, "patient-precall-focused")
	p.key(kb.Enter)
	p.waitVisible("#precall-open", 20*time.Second)
	p.expectFocus("#precall-open", "closing the pre-call check")

	// ---- the patient writes while waiting: the field, then Tab to Send
	patientSays := "Hello, I typed this with the keyboard."
	p.tabTo("#chat-input", 20)
	p.key(patientSays)
	p.tabTo("#chat-send", 2)
	p.key(kb.Enter)
	p.waitText("#chat-log", patientSays, 20*time.Second)
	// Send is disabled once the field is empty: the focus goes back to the field.
	p.expectFocus("#chat-input", "sending a chat message with the Send button")
	r.shot(p, "patient-chat-sent")

	// ---- the doctor accepts from the waiting list
	d.waitJS("the patient waits, online, in the doctor's list",
		`[...document.querySelectorAll("#waiting-list [data-consultation-id]")].some((li) => li.textContent.includes(`+jsString(first)+`) && li.querySelector(".hcw-online"))`,
		30*time.Second)
	cid := js[string](d, `[...document.querySelectorAll("#waiting-list [data-consultation-id]")].find((li) => li.textContent.includes(`+jsString(first)+`)).dataset.consultationId`)
	d.tabTo("#accept-"+cid, 40)
	r.shot(d, "doctor-accept-focused")
	d.key(kb.Enter)
	d.waitVisible("#start-video-call", 20*time.Second)
	d.focusKept("accepting the patient")
	p.waitVisible("#doctor-joined", 20*time.Second)

	// ---- the doctor answers: type in the field and Enter
	d.waitText("#chat-log", patientSays, 20*time.Second)
	doctorSays := "Hello Kim, I read you."
	d.tabTo("#chat-input", 30)
	d.key(doctorSays)
	d.key(kb.Enter)
	p.waitText("#chat-log", doctorSays, 20*time.Second)
	d.expectFocus("#chat-input", "Enter in the chat field")
	if v := js[string](d, `document.getElementById("chat-input").value`); v != "" {
		t.Errorf("the doctor's chat field still holds %q after Enter", v)
	}

	// ---- the doctor starts a video call
	d.shiftTabTo("#start-video-call", 30)
	d.key(kb.Enter)
	d.waitVisible("#local-video", 30*time.Second)
	d.expectFocus("#call-mute", "starting the video call")

	// ---- the patient's page rings: the focus is on Accept
	p.waitVisible("#call-accept", 30*time.Second)
	p.expectFocus("#call-accept", "the call ringing")
	r.shot(p, "patient-incoming-call")
	p.key(kb.Enter)
	p.waitJS("the call's pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	p.expectFocus("#precall-title", "accepting the call")
	p.tabTo("#precall-continue", 15)
	p.key(kb.Enter)
	p.waitVisible("#remote-video", 30*time.Second)
	p.expectFocus("#call-mute", "joining the call")
	d.waitMedia(1, 60*time.Second)
	p.waitMedia(1, 60*time.Second)

	// ---- mute (Enter) and unmute (Space); the doctor sees it
	p.tabTo("#call-mute", 15)
	p.key(kb.Enter)
	p.waitJS("the microphone is muted", `document.getElementById("call-mute")?.getAttribute("aria-pressed") === "true"`, 10*time.Second)
	p.expectFocus("#call-mute", "muting")
	d.waitJS("the doctor sees the patient muted", `document.querySelector("[data-testid=call-tile][data-muted=true]")`, 20*time.Second)
	r.shot(p, "patient-muted")
	p.key(" ")
	p.waitJS("the microphone is on again", `document.getElementById("call-mute")?.getAttribute("aria-pressed") === "false"`, 10*time.Second)
	p.expectFocus("#call-mute", "unmuting")
	d.waitJS("the doctor sees the patient unmuted", `document.querySelector("[data-testid=call-tile][data-muted=false]")`, 20*time.Second)

	// ---- the patient leaves the call
	p.tabTo("#call-leave", 10)
	p.key(kb.Enter)
	p.waitJS("the patient is out of the call", `!document.getElementById("call-leave")`, 20*time.Second)
	p.expectFocus("#call-join", "leaving the call")
	r.shot(p, "patient-left-call")

	// ---- the doctor closes: Escape cancels, then confirm
	d.shiftTabTo("#close-consultation", 40)
	d.key(kb.Enter)
	d.waitVisible("#close-dialog", 10*time.Second)
	d.expectFocus("#cancel-close", "opening the close dialog")
	r.shot(d, "doctor-close-dialog")
	d.key(kb.Escape)
	d.waitJS("the dialog is gone", `!document.getElementById("close-dialog")`, 5*time.Second)
	d.expectFocus("#close-consultation", "Escape in the close dialog")
	if v := js[string](d, `document.getElementById("close-consultation").getAttribute("aria-expanded")`); v != "false" {
		t.Errorf("#close-consultation aria-expanded=%q after Escape", v)
	}
	d.shiftTabTo("#close-consultation", 40)
	d.key(kb.Enter)
	d.expectFocus("#cancel-close", "opening the close dialog again")
	d.shiftTabTo("#confirm-close", 3)
	d.key(kb.Enter)
	d.waitVisible("#consultation-closed", 20*time.Second)
	// Close is gone with the consultation: the dialog gives the focus to
	// the consultation's heading.
	d.expectFocus("#consultation-title", "closing the consultation")
	r.shot(d, "doctor-closed")

	// ---- the patient rates with the arrow keys and sends
	p.waitVisible("form.hcw-feedback", 30*time.Second)
	p.focusKept("the consultation's end")
	p.tabTo("#feedback-good", 10)
	checked := func() string {
		return js[string](p, `document.querySelector("input[name=rating]:checked")?.value ?? ""`)
	}
	if v := checked(); v != "" {
		t.Errorf("a rating (%q) is chosen before any key", v)
	}
	p.key(" ")
	p.waitJS("good is chosen", `document.getElementById("feedback-good").checked`, 5*time.Second)
	p.key(kb.ArrowDown)
	p.expectFocus("#feedback-ok", "ArrowDown in the rating")
	if v := checked(); v != "ok" {
		t.Errorf("ArrowDown on good chose %q, want ok", v)
	}
	p.key(kb.ArrowDown)
	p.expectFocus("#feedback-bad", "a second ArrowDown in the rating")
	p.key(kb.ArrowUp)
	p.key(kb.ArrowUp)
	p.expectFocus("#feedback-good", "ArrowUp twice in the rating")
	if v := checked(); v != "good" {
		t.Errorf("ArrowUp twice from bad chose %q, want good", v)
	}
	r.shot(p, "patient-feedback-rated")
	p.key(kb.Tab)
	p.expectFocus("#feedback-comment", "Tab out of the rating")
	p.tabTo("#feedback-comment", 3)
	p.key("Typed without a mouse.")
	p.tabTo("#feedback-submit", 2)
	if feedbackEndpoint(t) {
		p.key(kb.Enter)
		p.waitVisible("#feedback-thanks", 20*time.Second)
		p.expectFocus("#feedback-title", "sending the feedback")
		r.shot(p, "patient-feedback-sent")
	} else {
		t.Log("the backend has no participant feedback endpoint yet: the form is filled, not sent")
	}
	for _, pg := range []*page{d, p} {
		pg.checkCSP()
	}
}
