package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	testToken   = "xoxb-0000-1111-SECRETTOKEN"
	testChannel = "C0TEST"
)

// call is one request the fake Slack API received.
type call struct {
	Method   string          `json:"method"`
	Channel  string          `json:"channel"`
	TS       string          `json:"ts,omitempty"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	Text     string          `json:"text"`
	Blocks   json.RawMessage `json:"blocks"`
}

// fakeSlack stands in for the Web API's chat.postMessage and chat.update: it checks
// the token and the Block Kit limits, answers like Slack and records each call.
// fail scripts an API error ("invalid_auth"); status with retryAfter a rate limit.
type fakeSlack struct {
	t          *testing.T
	mu         sync.Mutex
	calls      []call
	next       int
	fail       string
	status     int
	retryAfter string
}

func newFakeSlack(t *testing.T) (*fakeSlack, string) {
	f := &fakeSlack{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/api/"
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.Header().Set("Retry-After", f.retryAfter)
		w.WriteHeader(f.status)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") != testToken {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if f.fail != "" {
		writeJSON(w, map[string]any{"ok": false, "error": f.fail})
		return
	}
	c := call{
		Method: strings.TrimPrefix(r.URL.Path, "/api/"), Channel: r.PostForm.Get("channel"),
		TS: r.PostForm.Get("ts"), ThreadTS: r.PostForm.Get("thread_ts"),
		Text: r.PostForm.Get("text"), Blocks: json.RawMessage(r.PostForm.Get("blocks")),
	}
	if err := checkMessage(c.Text, c.Blocks); err != nil {
		f.t.Errorf("%s: message breaks Block Kit rules: %v", c.Method, err)
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_blocks"})
		return
	}
	f.calls = append(f.calls, c)
	switch c.Method {
	case "chat.postMessage":
		f.next++
		writeJSON(w, map[string]any{"ok": true, "channel": testChannel, "ts": fmt.Sprintf("1714533121.%06d", f.next)})
	case "chat.update":
		writeJSON(w, map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "text": c.Text})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (f *fakeSlack) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeSlack) script(fail string, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.status, f.retryAfter = fail, status, retryAfter
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// checkMessage applies Block Kit's documented limits: a fallback text, at most 50
// blocks, header plain_text ≤ 150, section text ≤ 3000, ≤ 10 fields of ≤ 2000,
// context ≤ 10 elements.
func checkMessage(text string, raw json.RawMessage) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("no fallback text")
	}
	var blocks []struct {
		Type     string       `json:"type"`
		Text     *textObject  `json:"text"`
		Fields   []textObject `json:"fields"`
		Elements []textObject `json:"elements"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return err
	}
	if len(blocks) == 0 || len(blocks) > maxBlocks {
		return fmt.Errorf("%d blocks", len(blocks))
	}
	for i, b := range blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || len([]rune(b.Text.Text)) > 150 {
				return fmt.Errorf("block %d: bad header", i)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("block %d: empty section", i)
			}
			if b.Text != nil && (b.Text.Text == "" || len([]rune(b.Text.Text)) > 3000) {
				return fmt.Errorf("block %d: section text of %d", i, len(b.Text.Text))
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Text == "" || len([]rune(f.Text)) > 2000 {
					return fmt.Errorf("block %d: field of %d", i, len(f.Text))
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("block %d: %d context elements", i, len(b.Elements))
			}
		case "divider":
		default:
			return fmt.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
	return nil
}
