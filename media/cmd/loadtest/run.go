package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/signalclient"
)

// result is one run's figures.
type result struct {
	Scenario       string  `json:"scenario"`
	Publishers     int     `json:"publishers"`
	Subscribers    int     `json:"subscribers"`
	Seconds        float64 `json:"seconds"`
	Forwarded      int64   `json:"forwarded_packets"`
	PacketsPerSec  float64 `json:"forwarded_packets_per_second"`
	LossPercent    float64 `json:"loss_percent"`
	P50Millis      float64 `json:"latency_p50_ms"`
	P99Millis      float64 `json:"latency_p99_ms"`
	JitterMillis   float64 `json:"jitter_ms"`
	CPUMicrosPerPk float64 `json:"node_cpu_us_per_forwarded_packet"`
	NodeCPUPercent float64 `json:"node_cpu_percent"`
	NodeRSSMiB     float64 `json:"node_rss_mib"`
	KiBPerPeer     float64 `json:"node_kib_per_participant"`
	// Layers counts received video packets by simulcast layer (q, h, f).
	Layers      map[string]int64 `json:"video_layers,omitempty"`
	JoinSeconds float64          `json:"join_seconds"`
	// From the node's metrics at the end of the run (warm-up included):
	// bandwidth probes by outcome, their padding, and ICE restarts of
	// subscribers' connections (a subscriber the tester stopped
	// answering).
	Probes      map[string]float64 `json:"probes,omitempty"`
	PaddingKB   float64            `json:"probe_padding_kb"`
	SubRestarts float64            `json:"sub_ice_restarts"`
}

// stampOffset is where the stamp (send time, sequence, layer) sits in a
// payload: audio at 0; video after the VP8 descriptor and frame header.
const (
	audioStamp = 0
	videoStamp = 16
	stampLen   = 13
)

func stamp(b []byte, seq uint32, layer byte) {
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(b[8:], seq)
	b[12] = layer
}

// flow counts one subscriber's packets of one remote track in the window.
type flow struct {
	min, max uint32
	got      int64
	seen     bool
	jitter   float64
	lastTr   float64
}

type collector struct {
	measuring atomic.Bool
	mu        sync.Mutex
	flows     map[string]*flow
	latencies []float64
	layers    map[byte]int64
	received  atomic.Int64
	ready     sync.Map // "<sub>/<track>" -> struct{}
}

func (c *collector) packet(key string, payload []byte, at time.Time) {
	c.ready.Store(key, struct{}{})
	if !c.measuring.Load() || len(payload) < stampLen {
		return
	}
	sent := int64(binary.BigEndian.Uint64(payload))
	seq := binary.BigEndian.Uint32(payload[8:])
	transit := float64(at.UnixNano()-sent) / 1e6
	c.received.Add(1)
	// Each simulcast layer numbers its packets on its own: a subscriber
	// switched between layers has one flow per layer.
	key += "/" + string(rune('0'+payload[12]))
	c.mu.Lock()
	if c.layers == nil {
		c.layers = map[byte]int64{}
	}
	c.layers[payload[12]]++
	f := c.flows[key]
	if f == nil {
		f = &flow{min: seq, max: seq}
		c.flows[key] = f
	}
	if seq < f.min {
		f.min = seq
	}
	if seq > f.max {
		f.max = seq
	}
	f.got++
	if f.seen {
		d := math.Abs(transit - f.lastTr)
		f.jitter += (d - f.jitter) / 16
	}
	f.seen, f.lastTr = true, transit
	c.latencies = append(c.latencies, transit)
	c.mu.Unlock()
}

func runOnce(o options, subs int) (result, error) {
	n, err := startNode(o.node, o.nodeCPUs, o.nodeLog)
	if err != nil {
		return result{}, err
	}
	defer n.stop()
	_, rss0, _ := n.cpu()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := &collector{flows: map[string]*flow{}}
	joinStart := time.Now()

	dial := func(id string) (*signalclient.Client, error) {
		g, err := n.grantFor("load", id)
		if err != nil {
			return nil, err
		}
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		return signalclient.Dial(dctx, signalclient.Options{URL: n.signalURL, Grant: g, Room: "load"})
	}
	var clients []*signalclient.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	// Subscribers first, so every publisher's first packets are counted.
	for i := range subs {
		id := fmt.Sprintf("sub-%d", i)
		c, err := dial(id)
		if err != nil {
			return result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		clients = append(clients, c)
		c.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			key := id + "/" + t.StreamID() + "/" + t.ID()
			off := audioStamp
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				off = videoStamp
			}
			buf := make([]byte, 1500)
			var p rtp.Packet
			for {
				k, _, err := t.Read(buf)
				if err != nil {
					return
				}
				if p.Unmarshal(buf[:k]) != nil || len(p.Payload) < off+stampLen {
					continue
				}
				col.packet(key, p.Payload[off:], time.Now())
			}
		})
		go drainEvents(c)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range o.pubs {
		id := fmt.Sprintf("pub-%d", i)
		c, err := dial(id)
		if err != nil {
			return result{}, fmt.Errorf("publisher %d: %w", i, err)
		}
		clients = append(clients, c)
		go drainEvents(c)
		if o.scenario == "audio" {
			if err := publishAudio(ctx, c, id, stop, &wg); err != nil {
				return result{}, err
			}
		} else if err := publishVideo(ctx, c, id, stop, &wg); err != nil {
			return result{}, err
		}
	}
	defer func() { close(stop); wg.Wait() }()

	want := subs * o.pubs
	deadline := time.Now().Add(90 * time.Second)
	for count(&col.ready) < want {
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d subscriber tracks received media within 90 s", count(&col.ready), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	joinSecs := time.Since(joinStart).Seconds()
	time.Sleep(o.warmup)

	cpu0, _, _ := n.cpu()
	t0 := time.Now()
	col.measuring.Store(true)
	time.Sleep(o.duration)
	col.measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1, rss1, _ := n.cpu()
	met, err := n.scrape()
	if err != nil {
		return result{}, fmt.Errorf("node metrics: %w", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	var expected, got int64
	var jitter float64
	for _, f := range col.flows {
		expected += int64(f.max-f.min) + 1
		got += f.got
		jitter += f.jitter
	}
	r := result{
		Scenario: o.scenario, Publishers: o.pubs, Subscribers: subs,
		Seconds: elapsed.Seconds(), Forwarded: col.received.Load(),
		NodeRSSMiB:  float64(rss1) / (1 << 20),
		KiBPerPeer:  float64(rss1-rss0) / 1024 / float64(subs+o.pubs),
		JoinSeconds: joinSecs,
		Probes:      map[string]float64{},
		PaddingKB:   met["hcw_media_probe_padding_bytes_total"] / 1000,
		SubRestarts: met[`hcw_media_ice_restarts_total{target="sub"}`],
	}
	for _, e := range []string{"started", "succeeded", "aborted", "failed"} {
		r.Probes[e] = met[`hcw_media_probes_total{event="`+e+`"}`]
	}
	r.PacketsPerSec = float64(r.Forwarded) / r.Seconds
	r.NodeCPUPercent = 100 * (cpu1 - cpu0).Seconds() / r.Seconds
	if r.Forwarded > 0 {
		r.CPUMicrosPerPk = float64((cpu1 - cpu0).Microseconds()) / float64(r.Forwarded)
	}
	if expected > 0 {
		r.LossPercent = 100 * float64(expected-got) / float64(expected)
		if r.LossPercent < 0 {
			r.LossPercent = 0
		}
	}
	if len(col.flows) > 0 {
		r.JitterMillis = jitter / float64(len(col.flows))
	}
	if o.scenario == "video" {
		r.Layers = map[string]int64{}
		for l, n := range col.layers {
			r.Layers[[]string{"q", "h", "f"}[min(int(l), 2)]] = n
		}
	}
	if len(col.latencies) > 0 {
		slices.Sort(col.latencies)
		r.P50Millis = col.latencies[len(col.latencies)/2]
		r.P99Millis = col.latencies[len(col.latencies)*99/100]
	}
	return r, nil
}

func count(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

func drainEvents(c *signalclient.Client) {
	for range c.Events() {
	}
}

func publishAudio(ctx context.Context, c *signalclient.Client, id string, stop chan struct{}, wg *sync.WaitGroup) error {
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", id)
	if err != nil {
		return err
	}
	if _, _, err := c.Publish(ctx, grant.SourceMicrophone, tr, nil); err != nil {
		return fmt.Errorf("publish audio: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		p := rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 80)}
		for seq := uint32(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p.SequenceNumber = uint16(seq)
			p.Timestamp = seq * 960
			stamp(p.Payload[audioStamp:], seq, 0)
			_ = tr.WriteRTP(&p)
		}
	}()
	return nil
}

// publishVideo sends three simulcast layers shaped like a 720p camera's
// (q: 320x180, 15 frames/s, 1 packet a frame; h: 640x360, 30 frames/s, 2
// packets; f: 1280x720, 30 frames/s, 9 packets of 1,100 bytes, about
// 270 packets/s and 2.4 Mbit/s) of VP8-shaped payloads with a keyframe
// every 2 s.
func publishVideo(ctx context.Context, c *signalclient.Client, id string, stop chan struct{}, wg *sync.WaitGroup) error {
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	layers := []struct {
		rid       string
		size, fps int
		perFrame  int
		w, h      int
	}{{"q", 600, 15, 1, 320, 180}, {"h", 1000, 30, 2, 640, 360}, {"f", 1100, 30, 9, 1280, 720}}
	tracks := make([]*webrtc.TrackLocalStaticRTP, len(layers))
	var desc []signal.Layer
	for i, l := range layers {
		t, err := webrtc.NewTrackLocalStaticRTP(codec, "cam", id, webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			return err
		}
		tracks[i] = t
		desc = append(desc, signal.Layer{RID: l.rid, Width: l.w, Height: l.h})
	}
	_, sender, err := c.Publish(ctx, grant.SourceCamera, tracks[0], desc, tracks[1], tracks[2])
	if err != nil {
		return fmt.Errorf("publish video: %w", err)
	}
	midID, ridID, mid := c.SimulcastExtensions(sender)
	for _, rid := range []string{"q", "h", "f"} {
		go func() { // the node's PLIs and reports; interceptors need them read
			for {
				if _, _, err := sender.ReadSimulcastRTCP(rid); err != nil {
					return
				}
			}
		}()
	}
	for i, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second / time.Duration(l.fps))
			defer tick.Stop()
			p := rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, l.size)}
			var seq uint32
			for frame := uint32(0); ; frame++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				key := frame%uint32(2*l.fps) == 0
				for k := range l.perFrame {
					vp8Payload(p.Payload, k == 0, key, l.w, l.h)
					p.SequenceNumber = uint16(seq)
					p.Timestamp = frame * uint32(90000/l.fps)
					p.Marker = k == l.perFrame-1
					stamp(p.Payload[videoStamp:], seq, byte(i))
					p.Extensions = p.Extensions[:0]
					p.Extension = false
					_ = p.SetExtension(midID, []byte(mid))
					_ = p.SetExtension(ridID, []byte(l.rid))
					_ = tracks[i].WriteRTP(&p)
					seq++
				}
			}
		}()
	}
	return nil
}

// vp8Payload writes a one-packet VP8 frame's descriptor and frame header
// (RFC 7741; RFC 6386 section 9.1), enough for a keyframe detector.
func vp8Payload(b []byte, start, key bool, w, h int) {
	clear(b[:videoStamp])
	if !start {
		return // a continuation packet: S=0, no frame header
	}
	b[0] = 0x10 // S: start of partition 0, no extensions
	if key {
		b[1] = 0x00 // frame tag bit 0 = 0: keyframe
		b[4], b[5], b[6] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(b[7:], uint16(w))
		binary.LittleEndian.PutUint16(b[9:], uint16(h))
	} else {
		b[1] = 0x01
	}
}

func printTable(rs []result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tpubs\tsubs\tfwd pkt/s\tloss %\tp50 ms\tp99 ms\tjitter ms\tnode CPU %\tµs/pkt\tRSS MiB\tKiB/peer\tjoin s\tlayers q/h/f %\tprobes ok/ab/fail\tpadding kB\tsub ICE restarts\t")
	for _, r := range rs {
		layers := "-"
		if total := r.Layers["q"] + r.Layers["h"] + r.Layers["f"]; total > 0 {
			layers = fmt.Sprintf("%d/%d/%d", 100*r.Layers["q"]/total, 100*r.Layers["h"]/total, 100*r.Layers["f"]/total)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%.3f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%.1f\t%.0f\t%.1f\t%s\t%.0f/%.0f/%.0f\t%.0f\t%.0f\t\n",
			r.Scenario, r.Publishers, r.Subscribers, r.PacketsPerSec, r.LossPercent, r.P50Millis, r.P99Millis,
			r.JitterMillis, r.NodeCPUPercent, r.CPUMicrosPerPk, r.NodeRSSMiB, r.KiBPerPeer, r.JoinSeconds, layers,
			r.Probes["succeeded"], r.Probes["aborted"], r.Probes["failed"], r.PaddingKB, r.SubRestarts)
	}
	w.Flush()
}
