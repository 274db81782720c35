package file

import (
	"fmt"
	"strings"
)

// Describe implements sources.Config.
func (c Config) Describe() string {
	return fmt.Sprintf("file %s (format %s)", strings.Join(c.Paths, ", "), c.Format)
}
