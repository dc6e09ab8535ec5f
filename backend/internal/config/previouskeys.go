package config

import (
	"strings"

	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// EnvDataKeysPrevious lists data keys that were primary before HCW_DATA_KEY:
// values sealed with them still open, but nothing new is sealed with them.
// `backend keys rotate` re-seals those values with HCW_DATA_KEY, after which
// the previous keys can be dropped.
const EnvDataKeysPrevious = "HCW_DATA_KEYS_PREVIOUS"

// previousDataKeys parses zero or more keys separated by commas or white
// space (a file may hold one per line). Errors name the variable and the
// key's position, never the value.
func (p parser) previousDataKeys() ([]*sealed.Key, error) {
	v, err := p.secret(EnvDataKeysPrevious)
	if err != nil {
		return nil, err
	}
	name := EnvDataKeysPrevious
	if p.get(EnvDataKeysPrevious+fileSuffix) != "" {
		name += fileSuffix
	}
	fields := strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	keys := make([]*sealed.Key, 0, len(fields))
	for i, f := range fields {
		k, err := sealed.ParseKey(f)
		if err != nil {
			return nil, invalidf("%s: key %d of %d: %v (base64url, as in the generated data_key file)", name, i+1, len(fields), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
