package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxConfigFile bounds the --config file.
const maxConfigFile = 1 << 20

// loadConfig applies the YAML file at path to fs: each key is a flag's name
// with underscores, its value is set through the flag's own parser (so a
// file value obeys the same rule and gives the same message as the flag),
// and a flag given on the command line wins over the file. Unknown keys,
// repeated keys, non-scalar or empty values and bad values are refused with
// the file, line and key.
func loadConfig(path string, fs *flag.FlagSet) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if len(data) > maxConfigFile {
		return fmt.Errorf("--config %s: larger than %d bytes", path, maxConfigFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file (or only comments) sets nothing
	} else if err != nil {
		return fmt.Errorf("config %s: not YAML: %v", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s:%d: a second YAML document; the configuration is one mapping", path, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: want a mapping of settings (key: value), one per line", path, root.Line)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("config %s:%d", path, k.Line)
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: a key must be a plain name", at)
		}
		key := k.Value
		if first, ok := seen[key]; ok {
			return fmt.Errorf("%s: %s: repeated (first on line %d)", at, key, first)
		}
		seen[key] = k.Line
		name := strings.ReplaceAll(key, "_", "-")
		fl := fs.Lookup(name)
		if fl == nil || notInFile[name] || strings.Contains(key, "-") {
			hint := ""
			if fl != nil && !notInFile[name] {
				hint = fmt.Sprintf(" (keys use underscores: %s)", strings.ReplaceAll(key, "-", "_"))
			}
			return fmt.Errorf("%s: unknown key %q%s; known keys: %s", at, key, hint, strings.Join(configKeys(fs), ", "))
		}
		switch {
		case v.Kind != yaml.ScalarNode:
			return fmt.Errorf("%s: %s: want a single value, not a list or mapping", at, key)
		case v.Tag == "!!null":
			return fmt.Errorf("%s: %s: no value (remove the line to keep the default)", at, key)
		}
		if set[name] {
			continue // the command line wins
		}
		if err := fl.Value.Set(v.Value); err != nil {
			return fmt.Errorf("config %s:%d: %s: invalid value %q: %v", path, v.Line, key, v.Value, err)
		}
	}
	return nil
}

// notInFile are the flags that are not settings of the server.
var notInFile = map[string]bool{"config": true, "version": true}

// configKeys lists the keys a configuration file may use.
func configKeys(fs *flag.FlagSet) []string {
	var keys []string
	fs.VisitAll(func(f *flag.Flag) {
		if !notInFile[f.Name] {
			keys = append(keys, strings.ReplaceAll(f.Name, "-", "_"))
		}
	})
	slices.Sort(keys)
	return keys
}
