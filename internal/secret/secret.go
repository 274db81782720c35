// Package secret keeps webhook URLs and tokens out of logs and output.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Secret is a string that prints as <secret>: in logs, %v, JSON and YAML output.
// Reveal returns the value for the one place that needs it (the request).
type Secret string

const masked = "<secret>"

// String implements fmt.Stringer.
func (Secret) String() string { return masked }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return masked }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + masked + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(masked), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Empty reports whether no value is set.
func (s Secret) Empty() bool { return s == "" }

// FromFile reads a secret from a file (a mounted Kubernetes secret, a systemd
// credential), trimming one trailing newline.
func FromFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// Pick resolves a value and its _file twin: exactly one may be set when required,
// at most one otherwise. name is the YAML key ("webhook_url").
func Pick(name string, value Secret, file string, required bool) (Secret, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("only one of %s and %s_file may be set", name, name)
	case file != "":
		return FromFile(file)
	case value == "" && required:
		return "", fmt.Errorf("one of %s and %s_file is required", name, name)
	}
	return value, nil
}
