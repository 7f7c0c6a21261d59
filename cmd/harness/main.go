// Command harness is a Jepsen-style test harness and fault simulator for
// Redis Cluster. This package is the CLI only: it parses flags into structs
// and calls the library packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// Exit codes, the same for every command (DESIGN.md).
const (
	exitValid   = 0 // valid, or the expectation met; for cluster check: healthy
	exitInvalid = 1 // anomalies found; for cluster check: problems found
	exitUnknown = 2 // the result could not be decided
	exitHarness = 3 // the harness could not do its job: bad input, backend failure…
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErr is bad input: exit 3 with one line saying what, where and what to do.
func usageErr(format string, a ...any) error {
	return withCode(exitHarness, fmt.Errorf(format, a...))
}

func main() {
	// go-redis logs every failed dial to stderr; the harness reports what
	// failed itself, in one line that says what to do.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// run executes the CLI and returns the exit code; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	notFound := false
	app.CommandNotFound = func(c *cli.Context, name string) {
		notFound = true
		fmt.Fprintf(c.App.ErrWriter, "harness: no command %q (harness --help lists them)\n", name)
	}
	err := app.RunContext(ctx, interspersed(app, args))
	if notFound {
		return exitHarness
	}
	if err == nil {
		return exitValid
	}
	var ee *exitError
	code := exitHarness
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "harness: %s\n", msg)
	}
	if ctx.Err() != nil && code == exitHarness {
		fmt.Fprintln(stderr, "harness: interrupted")
	}
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "harness",
		Usage: "Jepsen-style test harness and fault simulator for Redis Cluster",
		Description: "Provisions real Redis Clusters (docker containers or local redis-server processes)\n" +
			"and does every operation of redis-cli --cluster on them. Exit codes: 0 valid/healthy,\n" +
			"1 anomalies/problems found, 2 unknown, 3 the harness could not do its job.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Usage: "where the harness records the clusters it made", EnvVars: []string{"HARNESS_STATE_DIR"}, Value: defaultStateDir()},
		},
		Commands: []*cli.Command{
			clusterCommand(),
			imageCommand(),
			serversCommand(),
			runCommand(),
			checkCommand(),
			scenariosCommand(),
			reportCommand(),
			soakCommand(),
			cleanupCommand(),
			canaryCommand(),
			agentCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageErr("%s: %v (see harness %s --help)", c.Command.FullName(), err, c.Command.FullName())
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit code
	}
}

// silentExit ends with code after the command has already said why.
func silentExit(code int) error { return &exitError{code: code, err: errors.New("")} }
