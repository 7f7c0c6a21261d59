package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/redis-harness/harness/scenarios"
	"github.com/urfave/cli/v2"
)

func scenariosCommand() *cli.Command {
	return &cli.Command{
		Name:  "scenarios",
		Usage: "the embedded scenarios",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list them, one line each",
				UsageText: "harness scenarios list",
				Action: func(c *cli.Context) error {
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					for _, n := range scenarios.Names() {
						s, err := scenarios.Load(n)
						if err != nil {
							return withCode(exitHarness, err)
						}
						fmt.Fprintf(w, "%s\t%s\n", n, s.Description)
					}
					return w.Flush()
				},
			},
			{
				Name:      "show",
				Usage:     "print a scenario's file",
				UsageText: "harness scenarios show smoke",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("scenarios show: give one NAME (harness scenarios list shows them)")
					}
					b, err := scenarios.Source(c.Args().First())
					if err != nil {
						return withCode(exitHarness, err)
					}
					_, err = c.App.Writer.Write(b)
					return err
				},
			},
		},
	}
}
