// Package contract holds what two services of the appliance must agree on
// byte for byte: the TURN REST credential scheme (turncred), and, as the
// media issue lands, media grant claims and signalling messages. Each
// agreement lives in its own sub-package so a service imports only what it
// speaks.
package contract
