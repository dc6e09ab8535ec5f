package sfu

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// DefaultProbeMaxBitrate is the most a subscriber's downlink is probed to
// (bits/s) unless Params says otherwise: four 720p cameras, or a camera
// and a sharp screen share.
const DefaultProbeMaxBitrate = 10_000_000

// Probing (see probe.go for the packets and their measure).
//
// Pion's GCC raises its estimate by at most 8% a second, and after any
// decrease by about a packet per round trip up to 1.5 times the rate it
// sees acknowledged: a subscriber held on a low layer sends little, so its
// estimate stays below the next layer for good. Like libwebrtc, the node
// probes: when the layers a subscriber wants need more than the estimate,
// it sends padding for half a second at the rate they would need (and a
// margin), reads the subscriber's TWCC feedback on it, and if the padding
// arrived at the rate it left, without loss and without the delay rising,
// takes that rate as proven: the allocation uses it (the "floor") until
// GCC's own estimate, fed by the higher layer now sent, passes it;
// congestion brings it down (see observe).
const (
	// probeMargin: a probe asks for 5/4 of what the next allocation step
	// needs.
	probeMarginNum, probeMarginDen = 5, 4
	probeDuration                  = 500 * time.Millisecond
	minProbeDuration               = 250 * time.Millisecond
	probeMinRate                   = 50_000 // bits/s of padding, at least
	probeTick                      = 5 * time.Millisecond
	// probeMaxBurst: packets per tick at most (2.5 Mbit/s of padding
	// takes 5-6 a tick); a late tick is not made up for in one burst,
	// which a small router buffer would drop.
	probeMaxBurst = 12
	// probeSpread: each probe starts after a random part of it, so the
	// subscribers of one room do not all probe in the same half second.
	probeSpread = 300 * time.Millisecond
	// probeBudget bounds the padding of all the probes in flight on the
	// node (bits/s; a larger probe goes alone): each padding packet costs
	// the node about what a forwarded one does, and a room's subscribers
	// would otherwise all probe at once.
	probeBudget = 8_000_000
	// probeLateFeedback: a probe whose packets have had no feedback for
	// this long while it sends stops (the subscriber reports every
	// 50-100 ms, plus a round trip).
	probeLateFeedback = 500 * time.Millisecond
	// probeMaxRate is the most padding the pacing can send (probeMaxBurst
	// packets a tick); a probe asks for no more.
	probeMaxRate = probeMaxBurst * probePacketBytes * 8 * int64(time.Second/probeTick)
	// probeFeedbackWait bounds the wait for the feedback on the last
	// packets (the subscriber reports every 50-100 ms, plus a round trip).
	probeFeedbackWait = 600 * time.Millisecond
	// probeQuiet: no probe this soon after a congestion signal.
	probeQuiet = 2 * time.Second
	// probeSettle: the next probe waits this long after one succeeded,
	// so the switch it allowed is made and measured first.
	probeSettle = time.Second
	// Failed probes back off exponentially between these.
	probeBackoffMin = 2 * time.Second
	probeBackoffMax = 30 * time.Second
	// probeGrace: congestion signals this soon after a probe are its own
	// overshoot; they end the probe, not what an earlier one proved.
	probeGrace = 1500 * time.Millisecond
	// Result checks: more loss than this, a delay rise above this, or an
	// arrival rate below this part of the sending rate fails a probe.
	probeResultMaxLoss      = 0.05
	probeResultMaxDelayRise = 30 * time.Millisecond
	probeResultMinRatioNum  = 85 // percent
	// congestionLoss is the loss (GCC's average over TWCC feedback) above
	// which the link counts as congested.
	congestionLoss = 0.05
)

// Probe outcomes, the event label of hcw_media_probes_total.
const (
	probeStarted   = "started"
	probeSucceeded = "succeeded"
	probeAborted   = "aborted" // a congestion signal while it ran
	probeFailed    = "failed"  // it ran, and the padding did not arrive as sent
	probeClosed    = ""        // the connection ended under it
)

// downlink is the node's view of one subscriber's "sub" connection: GCC's
// estimate, what probes proved, and the probing itself. It lives as long
// as the connection.
type downlink struct {
	s    *SFU
	log  *slog.Logger // the subscriber's
	bwe  cc.BandwidthEstimator
	tap  *probeTap
	stop chan struct{}
	once sync.Once

	mu          sync.Mutex
	floor       int64    // bits/s proven by the last probe, 0 when none holds
	lastDelay   gccDelay // GCC's delay figures at the last observe
	congestedAt time.Time
	probing     bool
	probeEnd    time.Time
	nextProbe   time.Time
	backoff     time.Duration
	cluster     *probeCluster // made at the first probe, then reused
}

func newDownlink(s *SFU, bwe cc.BandwidthEstimator, tap *probeTap) *downlink {
	return &downlink{s: s, log: s.log, bwe: bwe, tap: tap, stop: make(chan struct{})}
}

// close ends a probe in flight (the connection is closing).
func (dl *downlink) close() { dl.once.Do(func() { close(dl.stop) }) }

// estimate is the downlink's usable rate (bits/s): GCC's estimate, or
// what a probe proved if that is more.
func (dl *downlink) estimate() int64 {
	est := int64(dl.bwe.GetTargetBitrate())
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return max(est, dl.floor)
}

// gccDelay are the figures of GCC's last delay-based update: its stats
// keep them, with that update's state, until the next one (an update
// that holds is not kept), so a state read twice is only news when they
// changed.
type gccDelay struct {
	measurement, estimate, threshold float64
	target                           int
}

// observe reads GCC and the subscriber's loss once an allocation
// interval, media being the rate the subscriber receives. Congestion is
// a decrease of GCC's (its delay detector saw a queue build) or loss
// (over TWCC, or in the subscriber's receiver reports) since the last
// look; unless a probe caused it, it brings the floor down to 85% of
// media, as GCC brings its estimate down to 85% of the rate acknowledged,
// so a lasting congestion takes the subscriber down a step each
// interval. A falling estimate alone is not congestion: pion's GCC also
// lowers its target to 1.5 times the rate it sees acknowledged, padding
// not counted (see probe). It returns the estimate to allocate.
func (dl *downlink) observe(now time.Time, link *linkStats, media int64) int64 {
	est := int64(dl.bwe.GetTargetBitrate())
	stats := dl.bwe.GetStats()
	state, _ := stats["state"].(string)
	gccLoss, _ := stats["averageLoss"].(float64)
	var delay gccDelay
	delay.measurement, _ = stats["delayMeasurement"].(float64)
	delay.estimate, _ = stats["delayEstimate"].(float64)
	delay.threshold, _ = stats["delayThreshold"].(float64)
	delay.target, _ = stats["delayTargetBitrate"].(int)
	reported := link.downLoss(now, 2*allocationInterval)
	dl.mu.Lock()
	defer dl.mu.Unlock()
	fresh := delay != dl.lastDelay
	dl.lastDelay = delay
	why := ""
	switch {
	case fresh && state == "decrease":
		why = "delay"
	case fresh && gccLoss > congestionLoss, reported > congestionLoss:
		why = "loss"
	}
	if why != "" {
		dl.congestedAt = now
		if dl.floor > 0 && !dl.probing && now.Sub(dl.probeEnd) >= probeGrace {
			dl.floor = min(dl.floor, media*85/100)
			dl.log.Debug("downlink congested", "reason", why, "estimate_bps", est, "floor_bps", dl.floor)
		}
	}
	if est >= dl.floor {
		dl.floor = 0 // GCC caught up
	}
	return max(est, dl.floor)
}

// resetBackoff lets the next probe go at once (the subscriber asked for
// more).
func (dl *downlink) resetBackoff() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	dl.backoff = 0
	dl.nextProbe = time.Time{}
}

// allocPlan is one subscriber's allocation: its downlink, the audio it
// receives and its unpaused video down-tracks, in the order the budget is
// shared out.
type allocPlan struct {
	p     *participant
	dl    *downlink
	link  *linkStats
	audio int64 // bits/s
	downs []*forward.DownTrack
}

// planLocked gathers p's allocation; the caller holds SFU.mu.
func planLocked(p *participant) (allocPlan, bool) {
	if p.down == nil {
		return allocPlan{}, false
	}
	pl := allocPlan{p: p, dl: p.down, link: p.link}
	for _, sub := range p.subs {
		if sub.down.Paused() {
			continue
		}
		if sub.down.Receiver().Kind() == forward.Audio {
			pl.audio += sub.down.Receiver().Bitrate()
		} else {
			pl.downs = append(pl.downs, sub.down)
		}
	}
	return pl, true
}

// split shares budget out: an even share per video track after the audio,
// what a track leaves unused going to the next; choose takes a track's
// share and returns the rate it uses.
func (pl *allocPlan) split(budget int64, choose func(d *forward.DownTrack, share int64) int64) {
	left := max(budget-pl.audio, 0)
	for i, d := range pl.downs {
		share := left / int64(len(pl.downs)-i)
		left -= min(choose(d, max(share, 1)), left)
	}
}

// apply targets the layers budget holds.
func (pl *allocPlan) apply(budget int64) {
	pl.split(budget, func(d *forward.DownTrack, share int64) int64 { return d.SelectLayer(share) })
}

// layers are the layers budget would give, changing nothing.
func (pl *allocPlan) layers(budget int64, into []int) []int {
	into = into[:0]
	pl.split(budget, func(d *forward.DownTrack, share int64) int64 {
		l, rate := d.PickLayer(share)
		into = append(into, l)
		return rate
	})
	return into
}

// nextBudget is the smallest budget above budget (within 2%) that gives
// some track a higher layer, never above limit (the subscriber's wanted
// quality caps each track's layers); 0 if none.
func (pl *allocPlan) nextBudget(budget, limit int64) int64 {
	base := pl.layers(budget, nil)
	// Most of the time the subscriber has what it wants already: one
	// look at the limit says so, without the walk up to it.
	next := pl.layers(limit, nil)
	higher := false
	for i := range next {
		higher = higher || next[i] > base[i]
	}
	if !higher {
		return 0
	}
	for b := budget + max(budget/50, 10_000); b <= limit; b += max(b/50, 10_000) {
		next = pl.layers(b, next)
		for i := range next {
			if next[i] > base[i] {
				return b
			}
		}
	}
	return 0
}

// media is the rate of what the subscriber receives now (bits/s).
func (pl *allocPlan) media() int64 {
	m := pl.audio
	for _, d := range pl.downs {
		m += d.Receiver().LayerRate(d.CurrentLayer())
	}
	return m
}

// maybeProbe starts a probe for the next allocation step when the wanted
// layers need more than budget, the connection is up, every video track
// forwards the layer it targets, and nothing (congestion, a recent or
// failed probe) says to wait.
func (dl *downlink) maybeProbe(now time.Time, pl *allocPlan, budget int64) {
	limit := dl.s.probeLimit
	if limit <= 0 || len(pl.downs) == 0 {
		return
	}
	dl.mu.Lock()
	wait := dl.probing || now.Before(dl.nextProbe) || now.Sub(dl.congestedAt) < probeQuiet || now.Sub(dl.probeEnd) < probeSettle
	dl.mu.Unlock()
	if wait || !dl.tap.twcc.Load() || pl.p.subState.Load() != webrtc.PeerConnectionStateConnected {
		return
	}
	for _, d := range pl.downs {
		if !d.Settled() {
			return
		}
	}
	need := pl.nextBudget(budget, limit)
	if need == 0 {
		return
	}
	var via *forward.DownTrack // the stream that carries the padding
	for _, d := range pl.downs {
		if d.SSRC() != 0 {
			via = d
			break
		}
	}
	if via == nil {
		return
	}
	media := pl.media()
	pad := min(max(min(need*probeMarginNum/probeMarginDen, limit)-media, probeMinRate), probeMaxRate)

	s := dl.s
	if !s.reserveProbe(pad) {
		return // the node probes enough as it is: next interval
	}
	s.mu.Lock()
	if pl.p.gone || pl.p.down != dl {
		s.mu.Unlock()
		s.probeLoad.Add(-pad)
		return
	}
	dl.mu.Lock()
	if dl.probing {
		dl.mu.Unlock()
		s.mu.Unlock()
		s.probeLoad.Add(-pad)
		return
	}
	dl.probing = true
	if dl.cluster == nil {
		dl.cluster = newProbeCluster()
	}
	dl.mu.Unlock()
	s.wg.Add(1)
	s.mu.Unlock()
	s.met.probes.WithLabelValues(probeStarted).Inc()
	go dl.run(pl.p, via, media, pad, need)
}

// run is one probe, on its own goroutine.
func (dl *downlink) run(p *participant, via *forward.DownTrack, media, pad, need int64) {
	defer dl.s.wg.Done()
	defer dl.s.probeLoad.Add(-pad)
	outcome, res, why := dl.probe(via, pad)
	capacity := media + min(res.sendRate, res.recvRate)
	// The goal is need, or, when one probe cannot send enough padding for
	// it (pad at probeMaxRate), the rate tried less the margin: the floor
	// then climbs a probe at a time instead of failing for ever.
	goal := min(need, media+pad*probeMarginDen/probeMarginNum)
	if outcome == probeSucceeded && capacity < goal {
		outcome, why = probeFailed, "short of the goal"
	}
	now := time.Now()
	dl.mu.Lock()
	dl.probing = false
	dl.probeEnd = now
	switch outcome {
	case probeSucceeded:
		dl.floor = max(dl.floor, min(capacity, dl.s.probeLimit))
		dl.backoff = 0
		dl.nextProbe = now.Add(probeSettle)
	case probeAborted, probeFailed:
		if outcome == probeAborted {
			dl.congestedAt = now
		}
		dl.backoff = min(max(2*dl.backoff, probeBackoffMin), probeBackoffMax)
		dl.nextProbe = now.Add(dl.backoff)
	}
	backoff := dl.backoff
	dl.mu.Unlock()
	if outcome == probeClosed {
		return
	}
	dl.s.met.probes.WithLabelValues(outcome).Inc()
	dl.log.Debug("probe", "outcome", outcome, "reason", why, "media_bps", media, "padding_bps", pad, "need_bps", need,
		"sent_bps", res.sendRate, "received_bps", res.recvRate, "packets", res.packets, "received", res.received,
		"delay_rise", res.delayRise, "backoff", backoff)
	if outcome == probeSucceeded {
		dl.s.reallocate(p)
	}
}

// probe sends the padding of one cluster at pad bits/s on via's stream
// and measures it.
func (dl *downlink) probe(via *forward.DownTrack, pad int64) (outcome string, res probeResult, why string) {
	if !dl.sleep(rand.N(probeSpread)) {
		return probeClosed, res, ""
	}
	perSecond := float64(pad) / (8 * probePacketBytes)
	duration := probeDuration
	if perSecond*duration.Seconds() > maxProbePackets {
		duration = max(time.Duration(maxProbePackets/perSecond*float64(time.Second)), minProbeDuration)
		pad = min(pad, int64(maxProbePackets*probePacketBytes*8/duration.Seconds()))
	}
	c := dl.cluster
	start := time.Now()
	c.reset(start)
	sentBefore := via.PaddingSent()
	dl.tap.active.Store(c)
	defer dl.tap.active.Store(nil)
	// The probe's own packets tell congestion. Not GCC's estimate: pion's
	// GCC counts a padding-only packet by its header alone, so during a
	// probe the rate it sees acknowledged is far below what arrives, and
	// its cap at 1.5 times that rate pulls its target down with its delay
	// detector saying "normal" (measured: 1.7 Mbit/s to 0.49 on loopback).
	congestion := func() string { return c.signal().congestion }
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for {
		if !dl.await(tick.C) {
			return probeClosed, res, ""
		}
		if why := congestion(); why != "" {
			return probeAborted, c.result(), why + " while sending"
		}
		now := time.Now()
		if c.feedbackLate(now, probeLateFeedback) {
			return probeAborted, c.result(), "feedback late while sending"
		}
		elapsed := now.Sub(start)
		_, full := c.count()
		if elapsed >= duration || full {
			break
		}
		// Paced by what the writer sent (the tap may miss some); it sends
		// a request only between frames, and what it drops is asked again
		// at the next tick.
		sent := int64(via.PaddingSent() - sentBefore)
		due := pad*int64(elapsed)/int64(8*time.Second) - sent*probePacketBytes
		for k := 0; due > 0 && k < probeMaxBurst && via.PaddingPending() < probeMaxBurst; k++ {
			if !via.QueuePadding() {
				break
			}
			due -= probePacketBytes
		}
	}
	deadline := time.Now().Add(probeFeedbackWait)
	for time.Now().Before(deadline) {
		if !dl.await(tick.C) {
			return probeClosed, res, ""
		}
		if why := congestion(); why != "" {
			return probeAborted, c.result(), why + " after sending"
		}
		if c.signal().complete {
			break
		}
	}
	res = c.result()
	switch {
	case res.packets < 5 || res.received*5 < res.packets*4:
		return probeFailed, res, "too little feedback"
	case float64(res.packets-res.received) > probeResultMaxLoss*float64(res.packets):
		return probeFailed, res, "loss"
	case res.delayRise > probeResultMaxDelayRise:
		return probeFailed, res, "delay rose"
	case res.recvRate*100 < res.sendRate*probeResultMinRatioNum:
		return probeFailed, res, "arrived slower than sent"
	}
	return probeSucceeded, res, ""
}

// sleep waits d unless the downlink or the node closes first.
func (dl *downlink) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	return dl.await(t.C)
}

// await waits for c unless the downlink or the node closes first; false
// when one did.
func (dl *downlink) await(c <-chan time.Time) bool {
	select {
	case <-dl.stop:
		return false
	case <-dl.s.ctx.Done():
		return false
	case <-c:
		return true
	}
}

// reserveProbe counts pad bits/s of padding against the node's probe
// budget; false when it does not fit (a probe larger than the budget goes
// when no other is in flight).
func (s *SFU) reserveProbe(pad int64) bool {
	for {
		cur := s.probeLoad.Load()
		if cur > 0 && cur+pad > probeBudget {
			return false
		}
		if s.probeLoad.CompareAndSwap(cur, cur+pad) {
			return true
		}
	}
}
