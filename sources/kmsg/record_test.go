package kmsg

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var boot = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		rec     string
		msg     string
		after   time.Duration // record time minus boot
		labels  map[string]string
		wantErr string
	}{
		{
			name:   "oom kill",
			rec:    "3,1234,5678901,-;Out of memory: Killed process 4242 (redis-server) total-vm:1048576kB\n",
			msg:    "Out of memory: Killed process 4242 (redis-server) total-vm:1048576kB",
			after:  5678901 * time.Microsecond,
			labels: map[string]string{"facility": "kern", "priority": "3", "seq": "1234"},
		},
		{
			name:  "continuation lines",
			rec:   "6,188,299811,-;acpi PNP0A08:00: PCIe port services disabled\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n",
			msg:   "acpi PNP0A08:00: PCIe port services disabled",
			after: 299811 * time.Microsecond,
			labels: map[string]string{
				"facility": "kern", "priority": "6", "seq": "188",
				"subsystem": "acpi", "device": "+acpi:PNP0A08:00",
			},
		},
		{
			name:   "user facility, extra header fields",
			rec:    "12,342,778129421,-,caller=T123;cowbell-probe hello\n",
			msg:    "cowbell-probe hello",
			after:  778129421 * time.Microsecond,
			labels: map[string]string{"facility": "user", "priority": "4", "seq": "342"},
		},
		{
			name:   "escapes decoded, line breaks become spaces",
			rec:    `4,7,0,-;tab\x09back\x5cslash\x0anewline \xff \x4` + "\n",
			msg:    "tab\tback\\slash newline \xff \\x4",
			labels: map[string]string{"facility": "kern", "priority": "4", "seq": "7"},
		},
		{
			name:   "no trailing newline, semicolon in text",
			rec:    "190,1,2,c;a;b",
			msg:    "a;b",
			after:  2 * time.Microsecond,
			labels: map[string]string{"facility": "local7", "priority": "6", "seq": "1"},
		},
		{
			name:   "facility beyond the names",
			rec:    "200,1,0,-;x",
			msg:    "x",
			labels: map[string]string{"facility": "25", "priority": "0", "seq": "1"},
		},
		{
			name:   "continuation keys do not replace the header's",
			rec:    "6,5,0,-;x\n SEQ=99\n PRIORITY=0\nnot a continuation\n =empty key\n",
			msg:    "x",
			labels: map[string]string{"facility": "kern", "priority": "6", "seq": "5"},
		},
		{name: "no header end", rec: "6,1,2,-", wantErr: "no ';'"},
		{name: "short header", rec: "6,1;x", wantErr: "want prio,seq,usec,flags"},
		{name: "bad prio", rec: "x,1,2,-;x", wantErr: "prio"},
		{name: "bad seq", rec: "6,-1,2,-;x", wantErr: "seq"},
		{name: "negative usec", rec: "6,1,-2,-;x", wantErr: "usec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ts, labels, err := ParseRecord([]byte(tt.rec), boot)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.msg, msg)
			require.Equal(t, boot.Add(tt.after), ts)
			require.Equal(t, tt.labels, labels)
		})
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"3,1234,5678901,-;Out of memory: Killed process 4242 (redis-server)\n",
		"6,188,299811,-;acpi PNP0A08:00: PCIe\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n",
		`4,7,0,-;tab\x09back\x5cslash\x0a`,
		"12,342,778129421,-,caller=T1;x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		msg, ts, labels, err := ParseRecord(rec, boot)
		if err != nil {
			return
		}
		require.NotContains(t, msg, "\n")
		require.False(t, ts.Before(boot))
		for _, k := range []string{"facility", "priority", "seq"} {
			require.NotEmpty(t, labels[k], k)
		}
		seq, ok := seqOf(rec)
		require.True(t, ok)
		require.Equal(t, strconv.FormatUint(seq, 10), labels["seq"])
	})
}
