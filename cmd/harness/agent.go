package main

import (
	"os"

	"github.com/redis-harness/harness/topology/ssh"
	"github.com/urfave/cli/v2"
)

// agentCommand is `harness agent`, hidden: what the harness runs of
// itself on an SSH host, uploaded there by the ssh backend. Its words are
// the ssh package's (ssh.AgentArgs), which builds them and reads them
// back, so they are passed through unparsed.
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:   "agent",
		Usage:  "run as the ssh backend's agent on a host (started by the harness itself)",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:            "delay-line",
			Usage:           "hold one NFQUEUE delay line until stdin ends or a signal comes; prints \"ready <queue> <pid>\" once bound",
			Hidden:          true,
			SkipFlagParsing: true,
			Action: func(c *cli.Context) error {
				a, err := ssh.ParseAgentArgs(c.Args().Slice())
				if err != nil {
					return withCode(exitHarness, err)
				}
				in := c.App.Reader
				if in == nil {
					in = os.Stdin
				}
				return withCode(exitHarness, ssh.ServeDelayLine(c.Context, a, in, c.App.Writer))
			},
		}},
	}
}
