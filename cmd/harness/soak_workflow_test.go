package main

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// workflow is the part of a GitHub Actions workflow the test reads.
type workflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Needs    any               `yaml:"needs"`
		If       string            `yaml:"if"`
		Env      map[string]string `yaml:"env"`
		Strategy struct {
			FailFast *bool            `yaml:"fail-fast"`
			Matrix   map[string][]int `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			If   string            `yaml:"if"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestNightlySoakWorkflow: the nightly workflow parses, its matrix has one
// job per shard of SHARDS, each soaks its shard with the shared seed base
// and uploads its store under a name the merge job downloads, and the
// merge job runs after every shard (failed ones included), merges and
// publishes the merged JUnit. Every flag it passes is one the CLI has.
// (It has not run on GitHub; this is what can be checked here.)
func TestNightlySoakWorkflow(t *testing.T) {
	b, err := os.ReadFile("../../.github/workflows/nightly-soak.yml")
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	shards, err := strconv.Atoi(w.Env["SHARDS"])
	if err != nil || shards < 2 {
		t.Fatalf("env SHARDS %q: want a number of shards ≥ 2", w.Env["SHARDS"])
	}
	soak, merge := w.Jobs["soak"], w.Jobs["merge"]
	var want []int
	for i := 1; i <= shards; i++ {
		want = append(want, i)
	}
	if got := soak.Strategy.Matrix["shard"]; !slices.Equal(got, want) {
		t.Errorf("matrix shard %v, want %v (SHARDS %d)", got, want, shards)
	}
	if ff := soak.Strategy.FailFast; ff == nil || *ff {
		t.Error("the matrix must set fail-fast: false, or one shard's anomaly cancels the others")
	}
	app := newApp(nil, nil)
	soakCmd := app.Command("soak")
	mergeCmd := soakCmd.Command("merge")

	var soakRun, uploadName string
	for _, st := range soak.Steps {
		if strings.Contains(st.Run, "harness soak ") {
			soakRun = st.Run
		}
		if strings.HasPrefix(st.Uses, "actions/upload-artifact@") {
			uploadName = st.With["name"]
			if st.If != "always()" || st.With["path"] != "${{ env.STORE }}" {
				t.Errorf("the shard's upload: if %q, path %q", st.If, st.With["path"])
			}
		}
	}
	for _, must := range []string{"--shard ${{ matrix.shard }}/${{ env.SHARDS }}", "--seed-base ${{ github.run_id }}", `--store "$STORE"`} {
		if !strings.Contains(soakRun, must) {
			t.Errorf("the soak step does not pass %s:\n%s", must, soakRun)
		}
	}
	checkFlags(t, soakCmd, soakRun)

	if merge.Needs != "soak" || merge.If != "always()" {
		t.Errorf("merge job: needs %v, if %q; want needs soak, if always()", merge.Needs, merge.If)
	}
	var pattern, dlPath, mergeRun, junit, uploaded string
	for _, st := range merge.Steps {
		switch {
		case strings.HasPrefix(st.Uses, "actions/download-artifact@"):
			pattern, dlPath = st.With["pattern"], st.With["path"]
		case strings.Contains(st.Run, "harness soak merge"):
			mergeRun = st.Run
		case strings.HasPrefix(st.Uses, "mikepenz/action-junit-report@"):
			junit = st.With["report_paths"]
		case strings.HasPrefix(st.Uses, "actions/upload-artifact@"):
			uploaded = st.With["path"]
		}
	}
	if ok, _ := path.Match(pattern, strings.ReplaceAll(uploadName, "${{ matrix.shard }}", "3")); !ok || pattern == "" {
		t.Errorf("the merge downloads %q, which does not match the shards' uploads %q", pattern, uploadName)
	}
	expand := func(s string) string {
		return strings.NewReplacer("${{ env.RESULT }}", merge.Env["RESULT"], `"$RESULT"`, merge.Env["RESULT"], "$RESULT", merge.Env["RESULT"]).Replace(s)
	}
	out := regexp.MustCompile(`--out (\S+)`).FindStringSubmatch(expand(mergeRun))
	if out == nil {
		t.Fatalf("the merge step gives no --out:\n%s", mergeRun)
	}
	outDir := strings.Trim(out[1], `"`)
	if !strings.Contains(expand(mergeRun), expand(dlPath)+"/") {
		t.Errorf("the merge step does not merge the downloaded stores in %s:\n%s", dlPath, mergeRun)
	}
	if got := expand(junit); got != outDir+"/soak-junit.xml" {
		t.Errorf("JUnit published from %s, want %s/soak-junit.xml", got, outDir)
	}
	if up := expand(uploaded); !strings.HasPrefix(outDir, up+"/") || !strings.HasPrefix(expand(dlPath), up+"/") {
		t.Errorf("the merged artifact %s must hold both %s and the shard stores %s (the run links point into them)", up, outDir, dlPath)
	}
	checkFlags(t, mergeCmd, mergeRun)
}

// checkFlags fails when script passes cmd a --flag it does not have.
func checkFlags(t *testing.T, cmd *cli.Command, script string) {
	t.Helper()
	if cmd == nil {
		t.Fatal("no such command")
	}
	for _, m := range regexp.MustCompile(`\s--([a-z][a-z-]*)`).FindAllStringSubmatch(script, -1) {
		found := false
		for _, f := range cmd.Flags {
			found = found || slices.Contains(f.Names(), m[1])
		}
		if !found {
			t.Errorf("the workflow passes %s --%s, which it does not have", cmd.Name, m[1])
		}
	}
	if !strings.Contains(script, fmt.Sprintf("harness soak%s", map[bool]string{true: " merge", false: " "}[cmd.Name == "merge"])) {
		t.Errorf("the step does not run harness soak %s", cmd.Name)
	}
}
