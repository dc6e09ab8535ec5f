// Package passkeytest gives tests software passkeys that every verifier
// accepts.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/x509"

	vw "github.com/descope/virtualwebauthn"
)

// Credential returns a new P-256 credential for the virtual authenticator.
//
// virtualwebauthn encodes the public key's coordinates with big.Int.Bytes,
// which drops leading zero bytes: about one key in 128 comes out with a
// 31-byte coordinate that go-webauthn rightly refuses. Tests would then
// fail at random, so keys whose coordinates are not full width are drawn
// again.
func Credential() vw.Credential {
	for {
		c := vw.NewCredential(vw.KeyTypeEC2)
		parsed, err := x509.ParsePKCS8PrivateKey(c.Key.Data)
		if err != nil {
			panic("passkeytest: " + err.Error())
		}
		k := parsed.(*ecdsa.PrivateKey)
		if len(k.X.Bytes()) == 32 && len(k.Y.Bytes()) == 32 { //nolint:staticcheck // the library encodes from these
			return c
		}
	}
}
