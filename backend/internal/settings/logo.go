package settings

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
)

// Limits of the logo.
const (
	// MaxLogoBytes bounds the image: a logo, not a photo.
	MaxLogoBytes = 256 << 10
	// MaxLogoSide bounds either side in pixels, so a small file cannot
	// unpack into a huge bitmap in every browser that shows it.
	MaxLogoSide = 4096
)

// Logo types, as detected and as served.
const (
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
	TypeWebP = "image/webp"
)

// errLogo is the refusal of an image: one field, "logo".
func errLogo(reason string) error { return &FieldError{"logo", reason} }

// DetectLogo returns the type of a logo image from its bytes alone,
// whatever the uploader said it was: PNG, JPEG or WebP, with a header
// that parses and sides of 1 to MaxLogoSide pixels. Anything else is
// refused, SVG among them (it is a document that can carry script).
func DetectLogo(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errLogo("is empty")
	}
	if len(b) > MaxLogoBytes {
		return "", errLogo(fmt.Sprintf("is larger than %d bytes", MaxLogoBytes))
	}
	var (
		typ  string
		w, h int
		err  error
	)
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		typ = TypePNG
		w, h, err = configSize(png.DecodeConfig, b)
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		typ = TypeJPEG
		w, h, err = configSize(jpeg.DecodeConfig, b)
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		typ = TypeWebP
		w, h, err = webpSize(b)
	default:
		return "", errLogo("must be a PNG, JPEG or WebP image (SVG and other formats are refused)")
	}
	if err != nil {
		return "", errLogo("is not a valid " + typ[len("image/"):] + " image")
	}
	if w < 1 || h < 1 || w > MaxLogoSide || h > MaxLogoSide {
		return "", errLogo(fmt.Sprintf("must be at most %d by %d pixels", MaxLogoSide, MaxLogoSide))
	}
	return typ, nil
}

// configSize reads the size from an image header with decode.
func configSize(decode func(io.Reader) (image.Config, error), b []byte) (int, int, error) {
	cfg, err := decode(bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	return cfg.Width, cfg.Height, nil
}

// webpSize reads the canvas size of a WebP file from its first chunk:
// VP8X (extended), VP8L (lossless) or VP8 (lossy), per RFC 9649. The RIFF
// length must match the file, so trailing bytes cannot hide another
// document.
func webpSize(b []byte) (int, int, error) {
	if len(b) < 30 {
		return 0, 0, fmt.Errorf("webp: too short")
	}
	if int(binary.LittleEndian.Uint32(b[4:8])) != len(b)-8 {
		return 0, 0, fmt.Errorf("webp: RIFF length does not match the file")
	}
	chunk, data := string(b[12:16]), b[20:]
	switch chunk {
	case "VP8X":
		w := int(data[4]) | int(data[5])<<8 | int(data[6])<<16
		h := int(data[7]) | int(data[8])<<8 | int(data[9])<<16
		return w + 1, h + 1, nil
	case "VP8L":
		if data[0] != 0x2f {
			return 0, 0, fmt.Errorf("webp: bad VP8L signature")
		}
		bits := binary.LittleEndian.Uint32(data[1:5])
		return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1, nil
	case "VP8 ":
		// 3-byte frame tag, then the start code 9d 01 2a, then the sizes.
		if data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a {
			return 0, 0, fmt.Errorf("webp: bad VP8 start code")
		}
		return int(binary.LittleEndian.Uint16(data[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(data[8:10]) & 0x3fff), nil
	default:
		return 0, 0, fmt.Errorf("webp: unknown first chunk %q", chunk)
	}
}
