package notifierstest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// StatusCase is one answer of an endpoint and what Notify must make of it.
type StatusCase struct {
	Status     int
	RetryAfter string        // the Retry-After header sent with the answer, if any
	Retry      bool          // the retry Notify must return
	Wait       time.Duration // the RetryAfter() of the error, 0 if it need not have one
}

// StatusTable maps the status codes an endpoint answers to retry, one subtest per case.
// A 2xx answer must succeed without retry; any other must fail with an error holding
// none of Secrets, and with the case's Wait if the error tells a wait.
type StatusTable struct {
	// Notify makes one attempt against the test endpoint whose root is url.
	Notify func(t *testing.T, url string) (retry bool, err error)
	// Answer is the body the endpoint sends with every status.
	Answer string
	// Secrets are strings no error may contain (tokens, secret URL paths).
	Secrets []string
	// StatusError requires each failure to be a *notifiers.StatusError of the status.
	StatusError bool
	// Quoted requires each failure to quote Answer.
	Quoted bool
	Cases  []StatusCase
}

// Run runs the table.
func (st StatusTable) Run(t *testing.T) {
	t.Helper()
	for _, c := range st.Cases {
		t.Run(http.StatusText(c.Status)+c.RetryAfter, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if c.RetryAfter != "" {
					w.Header().Set("Retry-After", c.RetryAfter)
				}
				w.WriteHeader(c.Status)
				_, _ = io.WriteString(w, st.Answer)
			}))
			defer srv.Close()
			retry, err := st.Notify(t, srv.URL)
			require.Equal(t, c.Retry, retry)
			if c.Status/100 == 2 {
				require.NoError(t, err, strconv.Itoa(c.Status))
				return
			}
			require.Error(t, err)
			for _, s := range st.Secrets {
				require.NotContains(t, err.Error(), s)
			}
			if st.StatusError {
				var se *notifiers.StatusError
				require.ErrorAs(t, err, &se)
				require.Equal(t, c.Status, se.Code)
			}
			if st.Quoted {
				require.Contains(t, err.Error(), st.Answer)
			}
			var ra notifiers.RetryAfter
			if c.Wait > 0 || errors.As(err, &ra) {
				require.ErrorAs(t, err, &ra)
				require.Equal(t, c.Wait, ra.RetryAfter())
			}
		})
	}
}

// Cancelled cancels an attempt while the endpoint holds the request: notify makes it
// with ctx against the endpoint whose root is url. The attempt must ask for a retry and
// fail with context.Canceled, saying so, and its error must hold neither the
// endpoint's URL nor any of secrets.
func Cancelled(t *testing.T, notify func(ctx context.Context, url string) (retry bool, err error), secrets ...string) {
	t.Helper()
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-ctx.Done():
		}
	}()
	retry, err := notify(ctx, srv.URL)
	require.True(t, retry, "a cancelled attempt may succeed later")
	require.ErrorIs(t, err, context.Canceled)
	msg := err.Error()
	require.Contains(t, msg, "cancel")
	require.NotContains(t, msg, srv.URL)
	for _, s := range secrets {
		require.NotContains(t, msg, s)
	}
}
