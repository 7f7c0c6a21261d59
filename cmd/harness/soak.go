package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis-harness/harness/reports"
	"github.com/redis-harness/harness/scenarios"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func soakCommand() *cli.Command {
	return &cli.Command{
		Name:  "soak",
		Usage: "run scenarios round-robin for a count or a duration; one summary and one verdict at the end",
		Description: "Each run is a normal run (fresh cluster, its own run dir under the store). After every run\n" +
			"the store's soak.json, soak.html and soak-junit.xml are rewritten: per scenario × image × server the\n" +
			"runs, valid/invalid/unknown/harness-error counts, detection rate of expected anomalies,\n" +
			"recovery time, throughput, links to each run, and a triage separating anomalies Redis\n" +
			"produced from harness or environment failures. Each run is bounded by its time limit plus\n" +
			"--margin; with --duration no run starts that would not fit, and one still going at the end\n" +
			"is cut (recorded, not counted). Five harness errors in a row end the soak (a broken\n" +
			"environment). --images sets each run's node image and needs the docker backend; --servers\n" +
			"runs every scenario on each server (harness servers list), on either backend.\n" +
			"--gzip-history compresses each run's history.jsonl into history.jsonl.gz once the run is\n" +
			"judged, in the background during the next run (gzip -1 under nice -n 19), one at a time;\n" +
			"check, report and run --replay read either. A failed compression keeps history.jsonl.\n" +
			"Exit: 0 every run met its expectation; 1 some run's verdict contradicted its expectation\n" +
			"(an unexpected anomaly, or an expected one not found) — 1 wins over 3, because what Redis\n" +
			"did matters more than a flaky environment; else 3 some run failed for harness reasons\n" +
			"(cluster never healthy, backend error, run over its bound); else 2 some run was unknown.\n" +
			"--shard I/N makes only shard I of N of the run list (positions i with i mod N = I-1 of the\n" +
			"unsharded list, numbered as it numbers them, for --count and --duration alike); with the same\n" +
			"--seed-base each run gets the seed the unsharded soak gives it. `harness soak merge` joins the\n" +
			"shards' stores into one summary.",
		UsageText: "harness soak [--scenarios a,b,…|--all] [--duration 8h | --count N] [--images img1,img2]\n" +
			"   [--servers redis-7.0.15,valkey-8.1.1] [--backend auto|docker|local|ssh] [--hosts FILE] [--fail-fast] [--gzip-history] [--store DIR]\n" +
			"   [--seed-base N [--shard I/N]] [every run flag: --time-limit, --nemesis…]\n" +
			"harness soak merge [--out DIR] STORE…",
		Flags: append(scenarioFlags(),
			&cli.StringSliceFlag{Name: "scenarios", Usage: "scenarios (names or files) to run round-robin (default: smoke)"},
			&cli.BoolFlag{Name: "all", Usage: "every embedded scenario"},
			&cli.DurationFlag{Name: "duration", Usage: "how long the soak lasts (no run starts past it)"},
			&cli.IntFlag{Name: "count", Usage: "runs per scenario × image (default 1 without --duration)"},
			&cli.StringSliceFlag{Name: "images", Usage: "node images to go round-robin over (docker backend only)"},
			&cli.StringSliceFlag{Name: "servers", Usage: "servers to go round-robin over: builds (harness servers list) or paths; every scenario runs on each", EnvVars: []string{"HARNESS_SERVERS"}},
			&cli.BoolFlag{Name: "fail-fast", Usage: "stop after the first run that did not meet its expectation"},
			&cli.DurationFlag{Name: "margin", Usage: "bound of each run beyond its time limit (default: 2× health timeout + check timeout + 1m)"},
			&cli.BoolFlag{Name: "gzip-history", Usage: "compress each judged run's history.jsonl into history.jsonl.gz (about a sixth of its size) during the next run", EnvVars: []string{"HARNESS_GZIP_HISTORY"}},
			&cli.Int64Flag{Name: "seed-base", Usage: "derive each run's seed from this and its place in the run list (default: each run picks its own)"},
			&cli.StringFlag{Name: "shard", Usage: "I/N: make only shard I of N of the run list (needs --seed-base or --seed, the same on every shard)"},
		),
		Subcommands: []*cli.Command{soakMergeCommand()},
		Action:      soakAction,
	}
}

func soakAction(c *cli.Context) error {
	o, names, err := soakOptions(c)
	if err != nil {
		return err
	}
	store := o.Run.Store
	fmt.Fprintf(c.App.Writer, "soak: %s%s; summary in %s\n", strings.Join(names, ", "), soakBounds(c), filepath.Join(store, reports.SoakHTML))
	sum, err := scenarios.Soak(c.Context, o)
	if sum != nil {
		printSoak(c, sum, store)
	}
	if err != nil {
		return withCode(exitHarness, err)
	}
	if sum.Code != exitValid {
		return silentExit(sum.Code)
	}
	return nil
}

// soakOptions parses the soak's flags into the library's options; names
// are the scenarios as the flags gave them.
func soakOptions(c *cli.Context) (scenarios.SoakOptions, []string, error) {
	names, err := soakNames(c)
	if err != nil {
		return scenarios.SoakOptions{}, nil, err
	}
	if c.IsSet("count") && c.Int("count") < 1 {
		return scenarios.SoakOptions{}, nil, usageErr("--count %d: want at least 1", c.Int("count"))
	}
	if c.IsSet("duration") && c.Duration("duration") <= 0 {
		return scenarios.SoakOptions{}, nil, usageErr("--duration %s: want a positive duration, e.g. 8h", c.Duration("duration"))
	}
	if c.IsSet("margin") && c.Duration("margin") <= 0 {
		return scenarios.SoakOptions{}, nil, usageErr("--margin %s: want a positive duration, e.g. 3m", c.Duration("margin"))
	}
	shard, seedBase, err := soakShard(c)
	if err != nil {
		return scenarios.SoakOptions{}, nil, err
	}
	images := splitList(c.StringSlice("images"))
	servers := splitList(c.StringSlice("servers"))
	if len(servers) > 0 && (len(images) > 0 || c.String("server") != "") {
		return scenarios.SoakOptions{}, nil, usageErr("soak: --servers with --images or --server: give one (a fetched build's image is made from it)")
	}
	for _, name := range servers {
		if _, err := resolveServer(c, name); err != nil {
			return scenarios.SoakOptions{}, nil, err
		}
	}
	list, err := soakScenarios(c, names, len(images) > 0)
	if err != nil {
		return scenarios.SoakOptions{}, nil, err
	}
	backend := c.String("backend")
	if len(images) > 0 && (backend == "" || backend == "auto") {
		backend = "docker"
	}
	args := map[string]string{"scenarios": strings.Join(names, ",")}
	for _, f := range c.FlagNames() {
		if c.IsSet(f) && f != "scenarios" {
			args[f] = flagValue(c, f)
		}
	}
	settings := map[string]string{}
	for _, f := range runShapingFlags() {
		if c.IsSet(f) {
			settings[f] = flagValue(c, f)
		}
	}
	tty := term.IsTerminal(int(os.Stdout.Fd())) && c.App.Writer == os.Stdout
	return scenarios.SoakOptions{
		Scenarios: list, Images: images, Servers: servers, Count: c.Int("count"), Duration: c.Duration("duration"),
		FailFast: c.Bool("fail-fast"), Margin: c.Duration("margin"), Args: args, GzipHistory: c.Bool("gzip-history"),
		Shard: shard, SeedBase: seedBase, Settings: settings,
		Run:      scenarios.Options{Backend: backend, Hosts: c.String("hosts"), Store: c.String("store"), Progress: indent{c.App.Writer}, TTY: tty, Servers: serversOf(c).Dir},
		Progress: c.App.Writer,
	}, names, nil
}

// runShapingFlags are the soak's flags that shape each run, beyond those
// of its plan (scenarios, images, servers, count, duration, seed base):
// the run flags but --store, and --margin. Shards of one soak agree on
// them; where a shard stores its runs, or whether it gzips them, may differ.
func runShapingFlags() []string {
	out := []string{"margin"}
	for _, f := range scenarioFlags() {
		if name := f.Names()[0]; name != "store" {
			out = append(out, name)
		}
	}
	return out
}

// soakShard reads --shard and --seed-base: a shard needs seeds that do
// not depend on the machine, so that they are the unsharded soak's.
func soakShard(c *cli.Context) (scenarios.Shard, int64, error) {
	base := c.Int64("seed-base")
	if c.IsSet("seed-base") && base == 0 {
		return scenarios.Shard{}, 0, usageErr("--seed-base 0: want a number other than 0 (0 means each run picks its seed)")
	}
	if base != 0 && c.IsSet("seed") {
		return scenarios.Shard{}, 0, usageErr("soak: --seed-base or --seed, not both (--seed gives every run the same seed)")
	}
	if !c.IsSet("shard") {
		return scenarios.Shard{}, base, nil
	}
	sh, err := scenarios.ParseShard(c.String("shard"))
	if err != nil {
		return scenarios.Shard{}, 0, usageErr("%w", err)
	}
	if base == 0 && !c.IsSet("seed") {
		return scenarios.Shard{}, 0, usageErr("--shard %s needs --seed-base N (the same on every shard), so that each run's seed is the one the unsharded soak gives it", sh)
	}
	return sh, base, nil
}

// soakNames are the scenarios --scenarios or --all name (default: smoke).
func soakNames(c *cli.Context) ([]string, error) {
	if c.Args().Len() > 0 {
		return nil, usageErr("soak: unexpected argument %q (scenarios go in --scenarios a,b)", c.Args().First())
	}
	names := splitList(c.StringSlice("scenarios"))
	if c.Bool("all") {
		if len(names) > 0 {
			return nil, usageErr("soak: --scenarios or --all, not both")
		}
		names = scenarios.Names()
	}
	if len(names) == 0 {
		names = []string{"smoke"}
	}
	return names, nil
}

// soakScenarios loads the scenarios with the run flags applied; with
// images, each runs on docker (an image means docker).
func soakScenarios(c *cli.Context, names []string, images bool) ([]*scenarios.Scenario, error) {
	var list []*scenarios.Scenario
	for _, n := range names {
		s, err := scenarios.Load(n)
		if err != nil {
			return nil, withCode(exitHarness, err)
		}
		if err := applyRunFlags(c, s); err != nil {
			return nil, err
		}
		if images {
			switch s.Backend {
			case "local":
				return nil, usageErr("soak: --images needs the docker backend, and %s runs on local (use --backend docker)", s.Name)
			case "", "auto":
				s.Backend = "docker" // an image means docker
			}
		}
		list = append(list, s)
	}
	return list, nil
}

// indent prefixes each run's own progress so the soak's lines stand out.
type indent struct {
	w interface{ Write([]byte) (int, error) }
}

func (i indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(string(p), "\n", "\n    ")
	if strings.HasSuffix(s, "\n    ") {
		s = strings.TrimSuffix(s, "    ")
	}
	if _, err := i.w.Write([]byte("    " + s)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func soakBounds(c *cli.Context) string {
	var b []string
	if c.IsSet("count") {
		b = append(b, fmt.Sprintf("%d runs each", c.Int("count")))
	}
	if c.IsSet("duration") {
		b = append(b, "for "+c.Duration("duration").String())
	}
	if len(b) == 0 {
		return ", 1 run each"
	}
	return ", " + strings.Join(b, ", at most ")
}

func flagValue(c *cli.Context, name string) string {
	switch v := c.Value(name).(type) {
	case cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case *cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case time.Duration:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// splitList flattens repeated and comma-separated values.
func splitList(in []string) []string {
	var out []string
	for _, x := range in {
		for _, y := range strings.Split(x, ",") {
			if y = strings.TrimSpace(y); y != "" {
				out = append(out, y)
			}
		}
	}
	return out
}

// printSoak prints the per scenario × image table and the verdict.
func printSoak(c *cli.Context, s *reports.Soak, store string) {
	w := c.App.Writer
	fmt.Fprintf(w, "soak: %d runs (%s); RSS %d kB → %d kB (at most %d kB), live heap %d kB → %d kB\n",
		len(s.Runs), s.Stopped, s.RSSStartKB, s.RSSEndKB, s.RSSMaxKB, s.HeapFirstKB, s.HeapLastKB)
	var plain, gz int64
	gzipped, failed := 0, 0
	for _, r := range s.Runs {
		if r.HistoryGzBytes > 0 {
			plain, gz = plain+r.HistoryBytes, gz+r.HistoryGzBytes
			gzipped++
		}
		if r.GzipError != "" {
			failed++
		}
	}
	if gzipped > 0 {
		fmt.Fprintf(w, "soak: %d histories gzipped: %.1f MiB → %.1f MiB\n", gzipped, float64(plain)/(1<<20), float64(gz)/(1<<20))
	}
	if failed > 0 {
		fmt.Fprintf(w, "soak: %d histories not gzipped: their history.jsonl is kept (gzip_error in soak.json)\n", failed)
	}
	if s.OverheadMeanS != nil {
		fmt.Fprintf(w, "soak: between runs (teardown + next cluster healthy) %.1f s mean, %.1f s at most\n", *s.OverheadMeanS, *s.OverheadMaxS)
	}
	for _, cell := range s.Cells {
		img := cell.Image
		if img == "" {
			img = "-"
		}
		if cell.Server != "" {
			img = cell.Server
			if cell.Reported != "" {
				img += " (" + cell.Reported + ")"
			}
		}
		det := ""
		if cell.DetectionRate != nil {
			det = fmt.Sprintf(", detected %d/%d", cell.Detected, cell.Judged)
		}
		fmt.Fprintf(w, "  %-20s %-24s runs %d: valid %d, invalid %d, unknown %d, harness error %d, cut %d; met %d/%d%s\n",
			cell.Scenario, img, cell.Runs, cell.Valid, cell.Invalid, cell.Unknown, cell.HarnessError, cell.Cut, cell.Met, cell.Judged, det)
	}
	fmt.Fprintf(w, "soak: exit %d: %s (%s)\n", s.Code, s.Verdict, filepath.Join(store, reports.SoakHTML))
}
