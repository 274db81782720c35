package journald

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Config
		filter  []string
		dirs    []string
		wantErr string // "line:col: message"
	}{
		{name: "defaults", yaml: "{}", want: DefaultConfig},
		{
			name: "filters",
			yaml: "units: [redis, postgresql@15-main.service]\nidentifiers: [kernel]\ntransports: [kernel]\npriority: 3\n",
			want: Config{
				Units: []string{"redis", "postgresql@15-main.service"}, Identifiers: []string{"kernel"},
				Transports: []string{"kernel"}, Priority: 3, StartAt: "end", Reader: "auto",
			},
			filter: strings.Fields(`
				_SYSTEMD_UNIT=redis.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1 _UID=0 COREDUMP_UNIT=redis.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				_PID=1 UNIT=redis.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				_UID=0 OBJECT_SYSTEMD_UNIT=redis.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				_SYSTEMD_UNIT=postgresql@15-main.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1 _UID=0 COREDUMP_UNIT=postgresql@15-main.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				_PID=1 UNIT=postgresql@15-main.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 +
				_UID=0 OBJECT_SYSTEMD_UNIT=postgresql@15-main.service SYSLOG_IDENTIFIER=kernel _TRANSPORT=kernel PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3`),
		},
		{
			name:   "a slice",
			yaml:   "units: [system.slice]\n",
			want:   Config{Units: []string{"system.slice"}, Priority: 7, StartAt: "end", Reader: "auto"},
			filter: strings.Fields("_SYSTEMD_UNIT=system.slice + MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1 _UID=0 COREDUMP_UNIT=system.slice + _PID=1 UNIT=system.slice + _UID=0 OBJECT_SYSTEMD_UNIT=system.slice + _SYSTEMD_SLICE=system.slice"),
		},
		{
			name:   "no units",
			yaml:   "identifiers: [a, b]\n",
			want:   Config{Identifiers: []string{"a", "b"}, Priority: 7, StartAt: "end", Reader: "auto"},
			filter: []string{"SYSLOG_IDENTIFIER=a", "SYSLOG_IDENTIFIER=b"},
		},
		{
			name: "directories",
			yaml: "directory: /host/var/log/journal\ndirectories: [/host/run/log/journal/, /host/var/log/journal]\nstart_at: beginning\nreader: journalctl\n",
			want: Config{
				Directory: "/host/var/log/journal", Directories: []string{"/host/run/log/journal/", "/host/var/log/journal"},
				Priority: 7, StartAt: "beginning", Reader: "journalctl",
			},
			dirs: []string{"/host/var/log/journal", "/host/run/log/journal"},
		},
		{name: "unknown field", yaml: "units: [a]\nunit: b\n", wantErr: `2:1: unknown field "unit"`},
		{name: "priority range", yaml: "priority: 8\n", wantErr: "1:11: priority: 8 is not between 0 and 7"},
		{name: "start_at", yaml: "start_at: tail\n", wantErr: `1:11: start_at: "tail" is not end or beginning`},
		{name: "reader", yaml: "reader: libsystemd\n", wantErr: `1:9: reader: "libsystemd" is not auto, sdjournal or journalctl`},
		{name: "relative directory", yaml: "directory: var/log/journal\n", wantErr: `1:12: directory: "var/log/journal" is not an absolute path`},
		{name: "relative directories", yaml: "directories: [/run/log/journal, x]\n", wantErr: `1:14: directories: "x" is not an absolute path`},
		{name: "transport", yaml: "transports: [kernal]\n", wantErr: `1:13: transports: "kernal" is not one of audit, driver, syslog, journal, stdout, kernel`},
		{name: "empty unit", yaml: "units: ['']\n", wantErr: "1:8: units: empty value"},
		{name: "wrong type", yaml: "units: redis\n", wantErr: "1: cannot unmarshal !!str `redis` into []string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tt.yaml), &c)
			if tt.wantErr != "" {
				require.Error(t, err)
				var pe *yamlpos.Error
				require.True(t, errors.As(err, &pe), "positioned error, got %T: %v", err, err)
				require.Equal(t, tt.wantErr, pe.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, c)
			require.Equal(t, tt.filter, c.filter().args())
			require.Equal(t, tt.dirs, c.dirs())
		})
	}
}
