package secret

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// Redact returns err with what must not be printed taken out of its message: the
// values of secrets, and any http or https URL (webhook URLs and API endpoints carry
// tokens in their paths). A *url.Error in the chain is told as its operation and cause
// ("post: timeout: context deadline exceeded"). The chain is kept, so errors.Is and
// errors.As still see context.Canceled, a *url.Error or a status error; only the text
// changes. A nil err stays nil, and an err with nothing to take out is returned as is.
func Redact(err error, secrets ...Secret) error {
	if err == nil {
		return nil
	}
	orig := err.Error()
	msg := orig
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = strings.Replace(msg, ue.Error(), describeURLError(ue), 1)
	}
	for _, s := range secrets {
		if v := s.Reveal(); v != "" {
			msg = strings.ReplaceAll(msg, v, masked)
		}
	}
	msg = scrubURLs(msg)
	if msg == orig {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// describeURLError tells a *url.Error without its URL: the lower-cased operation, and
// whether it timed out.
func describeURLError(ue *url.Error) string {
	op := strings.ToLower(ue.Op)
	if ue.Err == nil {
		return op
	}
	if errors.Is(ue.Err, context.DeadlineExceeded) || ue.Timeout() {
		return op + ": timeout: " + ue.Err.Error()
	}
	return op + ": " + ue.Err.Error()
}

// scrubURLs replaces every http:// or https:// URL in msg by <url>.
func scrubURLs(msg string) string {
	for _, scheme := range []string{"https://", "http://"} {
		for {
			i := strings.Index(msg, scheme)
			if i < 0 {
				break
			}
			j := i + len(scheme)
			for j < len(msg) && msg[j] != ' ' && msg[j] != '"' && msg[j] != '\'' {
				j++
			}
			// Punctuation that ends a sentence or a wrapped error is not the URL's.
			for j > i+len(scheme) && strings.IndexByte(":,.;)]>", msg[j-1]) >= 0 {
				j--
			}
			msg = msg[:i] + "<url>" + msg[j:]
		}
	}
	return msg
}

// redacted is an error whose text was cleaned; it unwraps to the original.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
