package notifierstest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// update is the -update flag of every test binary that imports notifierstest.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Golden requires got to equal the file at path; with -update it writes got there
// first.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to write %s", path)
	require.Equal(t, string(want), string(got))
}

// GoldenJSON is Golden for a JSON body, compared indented by two spaces with a final
// newline, as the golden files keep it.
func GoldenJSON(t testing.TB, path string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, body, "", "  "))
	pretty.WriteByte('\n')
	Golden(t, path, pretty.Bytes())
}
