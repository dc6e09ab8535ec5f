package signalclient

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// RepairedRID is an interceptor (factory and interceptor in one: it keeps
// no state) for a pion client that publishes simulcast and adds the RTP
// stream id header extension itself (see SimulcastExtensions). Pion's
// NACK responder resends a packet on its layer's RTX stream with the
// packet's header extensions as they were, so the resend carries the
// layer's rid where RFC 8852 wants its repaired-rtp-stream-id; the node's
// pion then takes the RTX stream for the layer itself (a new SSRC for
// that rid), and the layer's own stream goes silent at the node. This
// moves the rid to the repaired rid on RTX packets, as a browser sends
// them. Register it before pion's interceptors: it must be written to
// after the NACK responder.
type RepairedRID struct{ interceptor.NoOp }

// NewInterceptor implements interceptor.Factory.
func (r *RepairedRID) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

// BindLocalStream implements interceptor.Interceptor.
func (*RepairedRID) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var rid, rrid uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESRTPStreamIDURI:
			rid = uint8(e.ID)
		case sdp.SDESRepairRTPStreamIDURI:
			rrid = uint8(e.ID)
		}
	}
	if info.SSRCRetransmission == 0 || rid == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRCRetransmission {
			if v := h.GetExtension(rid); v != nil {
				_ = h.DelExtension(rid)
				if rrid != 0 {
					_ = h.SetExtension(rrid, v)
				}
			}
		}
		return w.Write(h, payload, a)
	})
}
