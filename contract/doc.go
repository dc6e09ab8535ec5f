// Package contract holds what two services of the appliance must agree on
// byte for byte: the TURN REST credential scheme (turncred), and, as the
// media issue lands, media grant claims (grant), the signalling protocol
// (signal) and the internal node API (nodeapi); and one policy two
// services share, their UDP socket buffers (udpbuf). Each
// agreement lives in its own sub-package so a service imports only what it
// speaks.
package contract
