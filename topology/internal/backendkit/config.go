package backendkit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
)

// ProcessConfig renders the redis.conf of a node run as a process (the
// local and ssh backends): bound to and announcing ip, with its data dir,
// log and pidfile in dir, in the foreground.
func ProcessConfig(spec topology.Spec, ip, port, dir string) string {
	managed := [][2]string{
		{"port", port},
		{"bind", ip},
		{"bind-source-addr", ip},
		{"cluster-announce-ip", ip},
		{"cluster-config-file", "nodes.conf"},
		{"dir", dir},
		{"logfile", dir + "/redis.log"},
		{"pidfile", dir + "/redis.pid"},
		{"daemonize", "no"},
	}
	var b strings.Builder
	for _, kv := range topology.NodeConfig(spec, managed) {
		fmt.Fprintf(&b, "%s %s\n", kv[0], quoteConf(kv[1]))
	}
	return b.String()
}

// quoteConf quotes a config value when redis.conf's tokenizer needs it.
func quoteConf(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"'\\") {
		return v
	}
	if strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) && len(v) >= 2 {
		return v // already quoted by the user, e.g. save ""
	}
	return strconv.Quote(v)
}
