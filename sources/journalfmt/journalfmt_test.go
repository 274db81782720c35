package journalfmt

import (
	"encoding/json"
	"testing"

	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestField(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		set     bool
		wantErr bool
	}{
		{in: `"redis-server.service"`, want: "redis-server.service", set: true},
		{in: `[104,105,0,255]`, want: "hi\x00\xff", set: true}, // not printable UTF-8
		{in: `null`}, // larger than journalctl shows
		{in: `["first","second"]`, want: "first", set: true}, // the field twice
		{in: `[[104],[105]]`, want: "h", set: true},          // twice, as bytes
		{in: `[null,"second"]`},                              // the first value too large
		{in: `[]`, set: true},
		{in: `[256]`, wantErr: true},
		{in: `5`, wantErr: true},
		{in: `{"a":1}`, wantErr: true},
	} {
		var f Field
		err := json.Unmarshal([]byte(c.in), &f)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v", c.in, err)
			continue
		}
		if !c.wantErr && (string(f.Value) != c.want || f.Set != c.set) {
			t.Errorf("%s: got %q set %v, want %q set %v", c.in, f.Value, f.Set, c.want, c.set)
		}
	}
}

func TestEntryLabels(t *testing.T) {
	var e Entry
	in := `{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"m",` +
		`"_SYSTEMD_UNIT":"postgresql@15-main.service","_PID":"4321","PRIORITY":null,"_BOOT_ID":[97]}`
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	got := e.Labels(func(v []byte) string { return string(v) })
	want := map[string]string{sources.LabelUnit: "postgresql@15-main.service", sources.LabelPID: "4321", sources.LabelBootID: "a"}
	if len(got) != len(want) {
		t.Fatalf("Labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if e.Cursor != "s=1" || *e.Realtime != "1700000000000000" || string(e.Message.Value) != "m" {
		t.Errorf("entry = %+v", e)
	}
}
