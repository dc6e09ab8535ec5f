package sfu

import (
	"fmt"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v4"
)

// AudioLevelURI is the RFC 6464 client-to-mixer audio level extension.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// Payload types the node offers on "sub" (a "pub" answer follows the
// client's numbering).
const (
	ptOpus    = 111
	ptVP8     = 96
	ptVP8RTX  = 97
	ptH264    = 102
	ptH264RTX = 103
)

// Bandwidth estimation bounds for a subscriber's downlink (bits/s).
const (
	bweInitial = 1_500_000
	bweMin     = 100_000
	bweMax     = 20_000_000
)

// pcRole says which of a participant's two peer connections is built.
type pcRole int

const (
	rolePub pcRole = iota // client -> node, the client offers
	roleSub               // node -> client, the node offers
)

func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBTransportCC},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	}
}

// registerCodecs registers Opus, VP8 and H.264 with RTX.
func registerCodecs(m *webrtc.MediaEngine) error {
	codecs := []struct {
		c    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
				SDPFmtpLine:  "minptime=10;useinbandfec=1;usedtx=1",
				RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
			},
			PayloadType: ptOpus,
		}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback()},
			PayloadType:        ptVP8,
		}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptVP8)},
			PayloadType:        ptVP8RTX,
		}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
				RTCPFeedback: videoFeedback(),
			},
			PayloadType: ptH264,
		}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptH264)},
			PayloadType:        ptH264RTX,
		}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return fmt.Errorf("register codec %s: %w", c.c.MimeType, err)
		}
	}
	return nil
}

// newPeerConnection builds one peer connection with its own media engine,
// setting engine and interceptor registry; only the ICE muxes are shared.
// For "sub" it also returns its downlink: the send-side bandwidth
// estimator (GCC over transport-wide CC feedback) and the probing. On
// "pub" the receiver reports the node sends go to link. Its pion objects
// log through noise (see pionLogs).
func (s *SFU) newPeerConnection(role pcRole, link *linkStats, noise *peerNoise) (*webrtc.PeerConnection, *downlink, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, nil, err
	}
	ir := &interceptor.Registry{}
	lf := s.pionLogs.forPeer(noise)
	var bwe chan cc.BandwidthEstimator
	var tap *probeTap

	switch role {
	case rolePub:
		// Before the report interceptor, which writes through it.
		ir.Add(&reportTap{link: link})
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, err
		}
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, nil, err
		}
		gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
		if err != nil {
			return nil, nil, err
		}
		ir.Add(gen)
		if err := webrtc.ConfigureTWCCSenderWithOptions(m, ir, twcc.WithLoggerFactory(lf)); err != nil {
			return nil, nil, err
		}
	case roleSub:
		bwe = make(chan cc.BandwidthEstimator, 1)
		pacer := newStreamPacer()
		ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			return gcc.NewSendSideBWE(
				gcc.SendSideBWEInitialBitrate(s.p.initialEstimate),
				gcc.SendSideBWEMinBitrate(bweMin),
				gcc.SendSideBWEMaxBitrate(bweMax),
				// Forward at once (the down-track writers are the pacing),
				// retransmissions included.
				gcc.SendSideBWEPacer(pacer),
				gcc.WithLoggerFactory(lf),
			)
		})
		if err != nil {
			return nil, nil, err
		}
		ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
			select {
			case bwe <- e:
			default:
			}
		})
		ir.Add(ccf)
		ir.Add(&rtxStreams{pacer: pacer})
		// Written to after the TWCC header extension interceptor (next),
		// so it sees each packet's transport-wide sequence number.
		tap = &probeTap{bytes: s.met.probeBytes}
		ir.Add(tap)
		if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
			return nil, nil, err
		}
		resp, err := nack.NewResponderInterceptor(nack.ResponderSize(1024), nack.WithResponderLoggerFactory(lf))
		if err != nil {
			return nil, nil, err
		}
		ir.Add(resp)
	}
	recv, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(lf))
	if err != nil {
		return nil, nil, err
	}
	send, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(lf))
	if err != nil {
		return nil, nil, err
	}
	ir.Add(recv)
	ir.Add(send)

	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(s.udpMux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if s.tcpMux != nil {
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	it := s.p.iceTimeouts
	se.SetICETimeouts(it.disconnected, it.failed, it.keepalive)
	se.SetIncludeLoopbackCandidate(s.loopback)
	if len(s.p.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        s.p.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			// Appended, not replacing: the node's own address stays a
			// candidate, which is what the TURN relay (allowed to reach
			// the media nodes by name) and same-network peers use.
			Mode: webrtc.ICEAddressRewriteAppend,
		}); err != nil {
			return nil, nil, fmt.Errorf("public IPs: %w", err)
		}
	}

	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("new peer connection: %w", err)
	}
	if bwe == nil {
		return pc, nil, nil
	}
	select {
	case est := <-bwe:
		return pc, newDownlink(s, est, tap), nil
	default:
		_ = pc.Close()
		return nil, nil, errNoEstimator
	}
}
