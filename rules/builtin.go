package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// builtinFS is the built-in pack, shipped inside the binary.
//
//go:embed builtin
var builtinFS embed.FS

// Builtin loads the embedded pack (rules/builtin/*.yaml, in name order). Its rules have
// Builtin set and File "builtin/<name>". Duplicate ids within the pack are errors.
func Builtin() ([]*Rule, error) {
	return loadFS(builtinFS, "builtin")
}

// loadFS loads every rule file in dir of fsys as built-in rules.
func loadFS(fsys fs.FS, dir string) ([]*Rule, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, &yamlpos.Error{File: dir, Err: fmt.Errorf("list built-in rules: %w", err)}
	}
	var all []*Rule
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !isRuleFile(e.Name()) {
			continue
		}
		name := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, &yamlpos.Error{File: name, Err: fmt.Errorf("read built-in rules: %w", err)})
			continue
		}
		rs, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range rs {
			r.Builtin = true
		}
		all = append(all, rs...)
	}
	errs = append(errs, duplicates(all)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}
