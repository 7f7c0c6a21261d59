package main

import (
	"fmt"
	"path/filepath"

	"github.com/redis-harness/harness/reports"
	"github.com/urfave/cli/v2"
)

// soakMergeDefaultOut is where soak merge writes without --out: a
// directory of its own, never one of the shard stores.
const soakMergeDefaultOut = "soak-merged"

func soakMergeCommand() *cli.Command {
	return &cli.Command{
		Name:  "merge",
		Usage: "merge the stores of a sharded soak (soak --shard I/N) into one summary",
		Description: "Reads each store's soak.json and writes one soak.json, soak.html and soak-junit.xml into --out\n" +
			"(default ./" + soakMergeDefaultOut + ", created if needed). The runs stay in the shard stores: each run's\n" +
			"link is a path relative to --out, so keep --out and the stores where they are relative to each other\n" +
			"(e.g. side by side in one directory, and upload that directory whole). It refuses a store that is\n" +
			"not a shard, shards of different soaks (scenarios, images, servers, count, duration, seed base, or\n" +
			"a flag that shapes each run: --time-limit, --nemesis, --backend…), a shard given twice, and an\n" +
			"--out that is a shard store or holds a soak's own summary. Shards not given are named in the summary.\n" +
			"Exit: soak's rules over all merged runs (1 anomalies, else 3 harness errors, else 2 unknown, else 0);\n" +
			"a missing shard counts as a harness failure: 3 unless some run says 1. Refusals exit 3.",
		UsageText: "harness soak merge [--out DIR] STORE…",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "where the merged summary goes", Value: soakMergeDefaultOut},
		},
		Action: soakMergeAction,
	}
}

func soakMergeAction(c *cli.Context) error {
	stores := c.Args().Slice()
	if len(stores) == 0 {
		return usageErr("soak merge: give the shard stores, e.g. harness soak merge shard-1 shard-2")
	}
	out := c.String("out")
	sum, err := reports.MergeSoaks(out, stores)
	if err != nil {
		return withCode(exitHarness, err)
	}
	fmt.Fprintf(c.App.Writer, "soak merge: %d stores → %s\n", len(sum.Merge.Shards), filepath.Join(out, reports.SoakJSON))
	printSoak(c, sum, out)
	if sum.Code != exitValid {
		return silentExit(sum.Code)
	}
	return nil
}
