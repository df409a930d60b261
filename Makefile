# The checks CI runs, for a contributor's machine: no root and no apt-get
# needed (tests that need root and AF_XDP skip without them). `make check`
# takes a few minutes on two cores; .ci/run runs the same targets as root,
# with the privileged tests required, plus the long peer tests.

GO ?= go
GOLANGCI_LINT_VERSION ?= v2.15.0
BIN := $(CURDIR)/.bin
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# Executions per fuzz target in `make fuzz`; CI sets more.
FUZZ_SCALE ?= 1

.PHONY: check fmt vet lint test race fuzz build demo tools clean

check: fmt vet lint test fuzz

build:
	$(GO) build ./...

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd perf/gvisor && $(GO) vet ./...

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $@

tools: $(GOLANGCI_LINT)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

# Unit tests, quickly: without root the privileged tests skip.
test:
	$(GO) test -count=1 ./...
	cd perf/gvisor && $(GO) test -count=1 ./...

# README's test command.
race:
	$(GO) test -race -count=1 ./...

# A short pass over every fuzz target (counts, not durations: Go's fuzz
# coordinator can report a spurious deadline error when a -fuzztime
# duration expires).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzInput$$' -fuzztime $$((20000 * $(FUZZ_SCALE)))x ./engine
	$(GO) test -run '^$$' -fuzz '^FuzzReassembly$$' -fuzztime $$((20000 * $(FUZZ_SCALE)))x ./engine
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((20000 * $(FUZZ_SCALE)))x ./tcp
	$(GO) test -run '^$$' -fuzz '^FuzzSegmentInEachState$$' -fuzztime $$((5000 * $(FUZZ_SCALE)))x ./tcp
	$(GO) test -run '^$$' -fuzz '^FuzzPacketTooBig$$' -fuzztime $$((5000 * $(FUZZ_SCALE)))x ./tcp
	$(GO) test -run '^$$' -fuzz '^FuzzFeed$$' -fuzztime $$((10000 * $(FUZZ_SCALE)))x ./internal/apps/httpapp
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((20000 * $(FUZZ_SCALE)))x ./internal/proxy/proxyproto
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $$((5000 * $(FUZZ_SCALE)))x ./internal/proxy/h1
	$(GO) test -run '^$$' -fuzz '^FuzzResponse$$' -fuzztime $$((5000 * $(FUZZ_SCALE)))x ./internal/proxy/h1
	$(GO) test -run '^$$' -fuzz '^FuzzChunked$$' -fuzztime $$((10000 * $(FUZZ_SCALE)))x ./internal/proxy/h1
	$(GO) test -run '^$$' -fuzz '^FuzzSeq$$' -fuzztime $$((20000 * $(FUZZ_SCALE)))x ./flow
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $$((5000 * $(FUZZ_SCALE)))x ./internal/proxy/config
	$(GO) test -run '^$$' -fuzz '^FuzzHTTPExchange$$' -fuzztime $$((3000 * $(FUZZ_SCALE)))x ./internal/proxy/fwd

demo:
	$(GO) run ./cmd/pollstack demo

clean:
	rm -rf $(BIN)
