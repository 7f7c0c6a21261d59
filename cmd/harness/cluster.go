package main

import (
	"github.com/urfave/cli/v2"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "make Redis Clusters and do every operation of redis-cli --cluster on them",
		Subcommands: []*cli.Command{
			clusterUpCommand(),
			clusterDownCommand(),
			clusterListCommand(),
			clusterStatusCommand(),
			clusterCheckCommand(),
			clusterFixCommand(),
			clusterAddNodeCommand(),
			clusterRemoveNodeCommand(),
			clusterReshardCommand(),
			clusterRebalanceCommand(),
			clusterFailoverCommand(),
		},
	}
}
