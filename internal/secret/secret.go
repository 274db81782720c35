// Package secret keeps webhook URLs and tokens out of logs and output.
package secret

import (
	"fmt"
	"strings"

	"github.com/cowbell-sidecar/cowbell/internal/inputfile"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
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

// MaxFileBytes bounds a secret file: a token or a URL, not a document.
const MaxFileBytes = 64 << 10

// FromFile reads a secret from a file (a mounted Kubernetes secret, a systemd
// credential), trimming one trailing newline. It must be a regular file of at most
// MaxFileBytes: a FIFO is refused rather than waited on.
func FromFile(path string) (Secret, error) {
	b, err := inputfile.Read(path, MaxFileBytes)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// Check checks a secret and its _file twin without reading the file (name is the
// YAML key, "url"): exactly one must be set when required, at most one otherwise. Its
// errors name the key they are about (yamlpos.Field).
func Check(name string, value Secret, file string, required bool) error {
	switch {
	case value != "" && file != "":
		return yamlpos.Field(name+"_file", fmt.Errorf("only one of %s and %s_file may be set", name, name))
	case value == "" && file == "" && required:
		return fmt.Errorf("one of %s and %s_file is required", name, name)
	}
	return nil
}

// Read returns the value of a secret that Check accepted, reading its _file twin
// when that is the one set; the error names the key and the file.
func Read(name string, value Secret, file string) (Secret, error) {
	if file == "" {
		return value, nil
	}
	s, err := FromFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", name, err)
	}
	return s, nil
}

// Pick is Check, then Read.
func Pick(name string, value Secret, file string, required bool) (Secret, error) {
	if err := Check(name, value, file, required); err != nil {
		return "", err
	}
	return Read(name, value, file)
}
