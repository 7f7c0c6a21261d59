# The harness's tasks. `make run` and `make test` are the README's two commands.
GO      ?= go
BIN     := bin/harness
NAME    ?= demo
BACKEND ?= auto
PKGS    := ./...

.PHONY: all build deps run cluster down test canary bench detection soak lint image clean fuzz

all: build

build:
	$(GO) build -o $(BIN) ./cmd/harness

# Installs missing Debian packages (redis-server, redis-tools, iptables, iproute2).
deps:
	@./scripts/deps.sh

# The main job: a real scenario against a real cluster on the default backend
# (docker when an engine answers, local otherwise). SCENARIO=… picks another,
# ARGS="--time-limit 60s" adds flags.
SCENARIO ?= smoke
run: deps build
	$(BIN) run $(SCENARIO) --backend $(BACKEND) $(ARGS)

# A cluster to play with: up, checked, left running (make down removes it).
cluster: deps build
	$(BIN) cluster up --name $(NAME) --backend $(BACKEND)
	$(BIN) cluster check --name $(NAME)

down: build
	$(BIN) cluster down --name $(NAME)

# Every test, under the race detector, integration tests on real clusters
# included (they skip, saying why, only where docker or redis-server is
# absent), then the canary: known
# anomalies planted in a real recorded run must each be caught (it too skips,
# saying why, where redis-server is absent).
test: deps build
	$(GO) vet $(PKGS)
	./scripts/test.sh $(PKGS)
	$(BIN) canary --skip-unavailable

# The canary alone (see README: harness canary).
canary: deps build
	$(BIN) canary --backend $(or $(filter docker,$(BACKEND)),local) $(ARGS)

# Fuzz every parser of outside input for FUZZTIME each (one target per
# go test: Go fuzzes one at a time). A crasher is saved under the
# package's testdata/fuzz/<Target>/ and from then on runs in go test.
FUZZTIME ?= 1m
FUZZ := ./scenarios:FuzzParse ./nemesis:FuzzFaults ./nemesis:FuzzTarget \
	./topology:FuzzParseClusterNodes ./topology:FuzzParseClusterShards ./topology:FuzzParseInfo \
	./checker/history:FuzzParseOp ./checker/history:FuzzRead ./checker:FuzzReadTopology \
	./cmd/harness:FuzzParseConfig
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $(FUZZARGS) $$pkg || exit 1; \
	done

# Speed goals, measured side by side in one run (see README).
bench: deps
	$(GO) test -run '^$$' -bench ClusterUp -benchtime 3x -timeout 30m ./topology/backends/
	$(GO) test -run '^$$' -bench Throughput -benchtime 3x -timeout 30m ./workloads/
	$(GO) test -run '^$$' -bench Check1M -benchtime 1x -timeout 30m ./checker/
	$(GO) test -run '^$$' -bench PorcupineCorpus -benchtime 1x -v -timeout 30m ./checker/
	$(GO) test -run '^$$' -bench SoakOverhead -benchtime 3x -timeout 30m ./scenarios/

# Detection power: run partition-master N times (30 s each) and print how
# many runs found the lost writes it must find.
N ?= 20
detection: deps build
	@found=0; for i in $$(seq 1 $(N)); do \
	  if $(BIN) run partition-master --backend $(BACKEND) --time-limit 30s >/dev/null 2>&1; then found=$$((found+1)); fi; \
	  echo "run $$i: $$found found so far"; \
	done; echo "partition-master detected lost writes in $$found of $(N) runs"

# A soak: SCENARIOS round-robin for DURATION, one verdict at the end
# (store/soak.html, soak.json, soak-junit.xml). ARGS adds flags, e.g.
# ARGS="--time-limit 60s --fail-fast --gzip-history".
DURATION  ?= 1h
SCENARIOS ?= mixed
soak: deps build
	$(BIN) soak --scenarios $(SCENARIOS) --duration $(DURATION) --backend $(BACKEND) $(ARGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

image: deps build
	$(BIN) image build

clean:
	rm -rf bin
