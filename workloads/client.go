package workloads

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// maxRedirects is go-redis's budget of re-routes inside one attempt: MOVED
// and ASK hops, and re-routes after READONLY (a write that reached a demoted
// master). Past it the attempt ends with the last redirect, which Classify
// calls fail, and RetryPolicy decides whether to try again.
const maxRedirects = 3

// Slot map refreshes. go-redis reloads its slot map after MOVED or ASK, or
// when the map is older than ClusterStateReloadInterval; a master that
// died or froze answers no MOVED, so without more the client would send
// that master's slots to it, and fail, until the interval ran out, long
// after its replica had taken over. The client refreshes the map itself
// after errors that say its route may be stale (staleRoute), before the
// next attempt, asking the nodes that have not just failed.
const (
	// reloadInterval bounds how stale the map gets when no error says so
	// (a slot moved to a node nobody writes to): one CLUSTER SLOTS a
	// second is nothing next to the ops.
	reloadInterval = time.Second
	// refreshEvery is the least time between two refreshes of one client:
	// all its workers share them.
	refreshEvery = 100 * time.Millisecond
	// probeTimeout bounds each node's CLUSTER SLOTS during a refresh (at
	// most the op timeout), so a frozen node costs a refresh that long and
	// the next node is asked.
	probeTimeout = 300 * time.Millisecond
	// suspectFor is how long a node that failed stays out of refreshes
	// unless it answers meanwhile.
	suspectFor = 5 * time.Second
)

// client executes calls through one go-redis ClusterClient and knows, for
// every op, each attempt a node saw: the node, the redirects, and whether an
// attempt may have been executed without a reply.
type client struct {
	cc      *redis.ClusterClient
	retry   RetryPolicy
	retryOn map[string]bool
	routes  *routes
}

// newClient makes the cluster client. go-redis never retries our commands
// itself: the node clients have MaxRetries -1 and every command says
// NoRetry, so go-redis only follows redirects (MOVED, ASK) and re-routes
// refusals (READONLY), which prove the earlier attempt was not executed.
// Every other retry is ours (RetryPolicy), so we know what happened.
//
// The slot map follows the cluster as a good cluster client's does: it is
// reloaded every reloadInterval, after MOVED/ASK (by go-redis), and after
// a connection error or CLUSTERDOWN, from a node other than those that just
// failed, before the next attempt (routes.refresh).
func newClient(cfg Config, addrs []string) *client {
	return newClientReloading(cfg, addrs, reloadInterval)
}

// newClientReloading is newClient with another periodic reload interval:
// a test that gives it an hour sees what the error-driven refresh does alone.
func newClientReloading(cfg Config, addrs []string, every time.Duration) *client {
	r := newRoutes(min(probeTimeout, cfg.OpTimeout))
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      addrs,
		MaxRedirects:               maxRedirects,
		MaxRetries:                 -1,
		MinRetryBackoff:            cfg.Retry.MinBackoff,
		MaxRetryBackoff:            cfg.Retry.MaxBackoff,
		DialTimeout:                cfg.OpTimeout,
		DialerRetries:              1,
		ReadTimeout:                cfg.OpTimeout,
		WriteTimeout:               cfg.OpTimeout,
		PoolSize:                   cfg.Concurrency + 2,
		PoolTimeout:                cfg.OpTimeout,
		Protocol:                   2,
		DisableIdentity:            true,
		DisableRoutingPolicies:     true, // a multi-key command goes to Redis as it is, never split per slot
		ClusterStateReloadInterval: every,
	})
	r.cc = cc
	cc.OnNewNode(func(n *redis.Client) {
		addr := n.Options().Addr
		r.know(addr)
		n.AddHook(nodeHook{addr: addr, r: r})
	})
	on := map[string]bool{}
	for _, k := range cfg.Retry.RetryOn {
		on[k] = true
	}
	return &client{cc: cc, retry: cfg.Retry, retryOn: on, routes: r}
}

func (c *client) close() error { return c.cc.Close() }

// tracker follows one op through its attempts, as the node hooks see them.
type tracker struct {
	mu        sync.Mutex
	tx        bool
	attempts  int    // attempts that reached a node client
	redirects int    // MOVED/ASK hops
	node      string // the node of the last attempt
	maybe     string // the first error after which an attempt may have been executed
	inCall    int    // attempts in the current go-redis call
}

// observe is one attempt at addr that ended with err.
func (t *tracker) observe(addr string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.tx:
		// go-redis keeps the MOVED/ASK of a transaction's queued commands
		// to itself; within one call it moves to another node only for
		// them, so a change of node is a redirect.
		if t.inCall > 0 && addr != t.node {
			t.redirects++
		}
	case isRedirect(err):
		t.redirects++
	}
	t.attempts++
	t.inCall++
	t.node = addr
	if t.maybe == "" && Classify(err, true).Type == history.Info {
		t.maybe = err.Error()
	}
}

func (t *tracker) newCall() {
	t.mu.Lock()
	t.inCall = 0
	t.mu.Unlock()
}

// opCmd is a command of ours: go-redis must not retry it, and the hooks
// find its tracker through it.
type opCmd struct {
	*redis.Cmd
	t *tracker
}

// NoRetry keeps go-redis from sending the command again after an error
// that leaves unknown whether it was executed.
func (c *opCmd) NoRetry() bool { return true }

func newOpCmd(ctx context.Context, t *tracker, args []any) *opCmd {
	cmd := redis.NewCmd(ctx, args...)
	if args[0] == "eval" {
		cmd.SetFirstKeyPos(3)
	} else {
		cmd.SetFirstKeyPos(1)
	}
	return &opCmd{Cmd: cmd, t: t}
}

// nodeHook sits on every node's client and reports each attempt of our
// commands to their trackers: the only place that sees which node served a
// command and which replies were redirects. It also tells routes which
// nodes fail and answer, and serves go-redis's slot map loads: their
// CLUSTER SLOTS skips the nodes that just failed and waits for each node
// at most the probe timeout.
type nodeHook struct {
	addr string
	r    *routes
}

func (h nodeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		oc, ours := cmd.(*opCmd)
		if !ours && isClusterSlots(cmd) {
			if why := h.r.skip(h.addr); why != "" {
				err := errors.New(why)
				cmd.SetErr(err)
				return err
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, h.r.probe)
			defer cancel()
		}
		err := next(ctx, cmd)
		h.r.observe(h.addr, err)
		if ours {
			oc.t.observe(h.addr, err)
		}
		return err
	}
}

// isClusterSlots reports whether cmd is CLUSTER SLOTS: go-redis loading
// its slot map (the workloads never send it).
func isClusterSlots(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) != 2 || cmd.Name() != "cluster" {
		return false
	}
	sub, ok := args[1].(string)
	return ok && strings.EqualFold(sub, "slots")
}

func (h nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		// The transport error, if any, concerns every command of the batch.
		var transport error
		var rerr redis.Error
		if err != nil && !errors.As(err, &rerr) {
			transport = err
		}
		h.r.observe(h.addr, transport)
		// Commands of one op (a transaction) are adjacent: report each op once.
		var t *tracker
		var terr error
		flush := func() {
			if t != nil {
				if terr == nil {
					terr = transport
				}
				t.observe(h.addr, terr)
			}
		}
		for _, c := range cmds {
			oc, ok := c.(*opCmd)
			if !ok {
				continue
			}
			if oc.t != t {
				flush()
				t, terr = oc.t, nil
			}
			if e := oc.Err(); e != nil && terr == nil && !errors.Is(e, redis.Nil) {
				terr = e
				if transport == nil && staleRoute(e) {
					h.r.observe(h.addr, e) // CLUSTERDOWN
				}
			}
		}
		flush()
		return err
	}
}

// result is a call's completion.
type result struct {
	typ       history.Type
	kind      string // of the last attempt's error, "" if none
	value     any
	err       string
	node      string
	redirects int
	// stale, when set, is when the last attempt began that ended with an
	// error saying the slot map may be out of date (staleRoute): the
	// worker's next op waits for a map refreshed since.
	stale time.Time
}

// attemptCtx is the context of an op's attempts. It does not end with the
// run's context: an op under way when the run ends finishes (or times out)
// and is recorded as what it was, not as canceled. It has no deadline
// either: go-redis's timeouts (DialTimeout, PoolTimeout, WriteTimeout,
// ReadTimeout, all OpTimeout) bound each wait of an attempt: a context
// deadline's timer cost about a tenth of the client's CPU per op.
func attemptCtx(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// do runs one call, retrying as the policy says, and classifies it.
func (c *client) do(ctx context.Context, cl *call) result {
	t := &tracker{tx: cl.tx}
	actx := attemptCtx(ctx)
	var replies []*redis.Cmd
	var err error
	var stale time.Time
	for attempt := 0; ; attempt++ {
		began := time.Now()
		replies, err = c.attempt(actx, cl, t)
		stale = time.Time{}
		if staleRoute(err) {
			stale = began
		}
		if !c.again(ctx, attempt, Classify(err, cl.mutates), stale, cl.key) {
			break
		}
	}
	res := finish(cl, t, replies, err)
	res.stale = stale
	return res
}

func (c *client) attempt(actx context.Context, cl *call, t *tracker) ([]*redis.Cmd, error) {
	t.newCall()
	replies := make([]*redis.Cmd, len(cl.cmds))
	if cl.key != "" && c.routes.nSuspects.Load() > 0 {
		if node := c.routeOf(actx, cl.key); node != "" {
			release, held, ok := c.routes.hold(node)
			if !ok {
				err := &heldError{addr: node, since: held}
				for i := range replies {
					replies[i] = redis.NewCmd(actx)
					replies[i].SetErr(err)
				}
				return replies, err
			}
			defer release()
		}
	}
	if !cl.tx {
		oc := newOpCmd(actx, t, cl.cmds[0])
		replies[0] = oc.Cmd
		return replies, c.cc.Process(actx, oc)
	}
	pipe := c.cc.TxPipeline()
	for i, args := range cl.cmds {
		oc := newOpCmd(actx, t, args)
		replies[i] = oc.Cmd
		_ = pipe.Process(actx, oc) // queued; errors come from Exec
	}
	_, err := pipe.Exec(actx)
	return replies, err
}

// again decides whether to retry after attempt (0-based) ended with o, and
// waits the backoff. When stale is set (the attempt, begun then, ended with
// an error saying the slot map may be out of date), the map is brought up
// to date for key first (prepare), and a retry that could only reach the
// node that just refused the connection is not made. It is false when the
// run's context ends meanwhile.
func (c *client) again(ctx context.Context, attempt int, o Class, stale time.Time, key string) bool {
	if o.Type == history.OK || attempt >= c.retry.MaxRetries || !c.retryOn[o.Kind] {
		return false
	}
	start := time.Now()
	if !stale.IsZero() && c.prepare(ctx, key, stale, o.Kind == KindConnect) {
		return false
	}
	return sleep(ctx, backoff(c.retry, attempt)-time.Since(start)) == nil
}

// prepare readies the slot map for an op on key (a retry, or the next op
// of a worker) after an error, at an attempt begun at since, said the map
// may be stale:
//
//   - the map routes key to a node that has not failed lately: go on at
//     once; a refresh starts in the background (kick);
//   - to a node that failed, and a refresh begun after it first failed
//     still routes there (the cluster has not replaced it yet): go on at
//     once too, with a refresh in the background; stop, when refused
//     says the failed attempt could not even connect: a retry would only
//     be refused again by a master nobody replaced, while the worker's
//     share of the live masters' load waits;
//   - to a node that failed, with no refresh since: wait for one (shared,
//     refreshEvery apart), and stop as above if it still routes there.
//
// An empty key (a batch) always waits for the refresh.
func (c *client) prepare(ctx context.Context, key string, since time.Time, refused bool) (stop bool) {
	if key == "" {
		c.routes.refresh(ctx, since)
		return false
	}
	node := c.routeOf(ctx, key)
	first, suspect := c.routes.suspectSince(node)
	switch {
	case !suspect:
		c.routes.kick(since)
		return false
	case c.routes.refreshedSince(first):
		c.routes.kick(since)
		return refused
	}
	c.routes.refresh(ctx, since)
	return refused && c.routeOf(ctx, key) == node
}

// routeOf is the address the slot map sends key to ("" if it cannot say).
func (c *client) routeOf(ctx context.Context, key string) string {
	m, err := c.cc.MasterForKey(ctx, key)
	if err != nil {
		return ""
	}
	return m.Options().Addr
}

// doBatch runs single-command calls in go-redis pipelines: the first
// attempt sends them all in one; retries send, together, those whose error
// the policy retries.
func (c *client) doBatch(ctx context.Context, calls []*call) []result {
	ts := make([]*tracker, len(calls))
	replies := make([]*redis.Cmd, len(calls))
	errs := make([]error, len(calls))
	pending := make([]int, len(calls))
	for i := range calls {
		ts[i] = &tracker{}
		pending[i] = i
	}
	actx := attemptCtx(ctx)
	var stale time.Time
	for attempt := 0; len(pending) > 0; attempt++ {
		began := time.Now()
		stale = time.Time{}
		pipe := c.cc.Pipeline()
		ocs := make([]*opCmd, len(pending))
		for j, i := range pending {
			ts[i].newCall()
			ocs[j] = newOpCmd(actx, ts[i], calls[i].cmds[0])
			_ = pipe.Process(actx, ocs[j])
		}
		_, _ = pipe.Exec(actx) // each command carries its own error
		var retry []int
		var o Class
		for j, i := range pending {
			replies[i], errs[i] = ocs[j].Cmd, ocs[j].Err()
			if staleRoute(errs[i]) {
				stale = began
			}
			if oi := Classify(errs[i], calls[i].mutates); oi.Type != history.OK && attempt < c.retry.MaxRetries && c.retryOn[oi.Kind] {
				retry, o = append(retry, i), oi
			}
		}
		if len(retry) == 0 || !c.again(ctx, attempt, o, stale, "") {
			break
		}
		pending = retry
	}
	out := make([]result, len(calls))
	for i, cl := range calls {
		out[i] = finish(cl, ts[i], []*redis.Cmd{replies[i]}, errs[i])
		out[i].stale = stale
	}
	return out
}

// finish turns the last attempt's outcome and what the tracker saw into
// the completion.
func finish(cl *call, t *tracker, replies []*redis.Cmd, err error) result {
	t.mu.Lock()
	res := result{node: t.node, redirects: t.redirects, value: cl.value}
	maybe, attempts := t.maybe, t.attempts
	t.mu.Unlock()
	o := Classify(err, cl.mutates)
	res.kind = o.Kind
	switch {
	case cl.mutates && maybe != "" && o.Type != history.Info:
		// An earlier attempt may have been executed, at any time: even a
		// later success or refusal says nothing certain about it.
		res.typ = history.Info
		res.err = errText(err) + history.RetriedAfter + maybe
	case o.Type == history.OK:
		res.typ = history.OK
		if cl.result != nil {
			v, fail := cl.result(replies)
			if fail != "" {
				res.typ, res.err = history.Fail, fail
			} else {
				res.value = v
			}
		}
	case o.Type == history.Info && attempts == 0:
		// No node client ever got the command (the slot map could not be
		// loaded, or the deadline passed first): it was not sent.
		res.typ, res.err = history.Fail, err.Error()
	default:
		res.typ, res.err = o.Type, err.Error()
	}
	return res
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// backoff is the wait before retry attempt+1: MinBackoff doubled per
// attempt, at most MaxBackoff.
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.MinBackoff
	for i := 0; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// sleep waits d on a timer, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
