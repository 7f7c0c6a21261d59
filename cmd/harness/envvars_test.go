package main

import (
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestREADMEEnvVars: the README's list of the flags that have an
// environment variable is every such variable of the CLI, and nothing else.
func TestREADMEEnvVars(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	have := map[string]bool{}
	collect := func(flags []cli.Flag) {
		for _, f := range flags {
			if d, ok := f.(cli.DocGenerationFlag); ok {
				for _, v := range d.GetEnvVars() {
					have[v] = true
				}
			}
		}
	}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			collect(c.Flags)
			walk(c.Subcommands)
		}
	}
	collect(app.Flags)
	walk(app.Commands)

	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "The flags that set where and how the harness works have")
	end := strings.Index(readme, "are flags only.")
	if start < 0 || end < start {
		t.Fatal("README: the paragraph that lists the environment variables is gone")
	}
	listed := map[string]bool{}
	for _, v := range regexp.MustCompile(`HARNESS_[A-Z_]+`).FindAllString(readme[start:end], -1) {
		listed[v] = true
	}
	for v := range have {
		if !listed[v] {
			t.Errorf("README does not list %s, which a flag reads", v)
		}
	}
	for v := range listed {
		if !have[v] {
			t.Errorf("README lists %s, which no flag reads", v)
		}
	}
	if len(have) == 0 {
		t.Error("no flag has an environment variable: the walk over the commands found none")
	}
	t.Logf("%d variables: %v", len(have), slices.Sorted(maps.Keys(have)))
}
