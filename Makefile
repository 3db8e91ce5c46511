# cnntrain — build, test, benchmark.
GO      ?= go
BIN     ?= bin/cnntrain
export CGO_ENABLED ?= 0

PYTHON_TORCH ?= /usr/bin/python3

.PHONY: build test bench vet data parity clean

## build: the cnntrain binary in bin/
build:
	$(GO) build -trimpath -o $(BIN) ./cmd/cnntrain

## test: vet, the unit tests under the race detector, then the real-data acceptance tests
## (TestReal*, run when CNNTRAIN_TEST_DATA names a prepared data folder, skipped loudly otherwise)
test: vet
	CGO_ENABLED=1 $(GO) test -count=1 -race -short ./...
	$(GO) test -count=1 -timeout 30m -run '^TestReal' -v ./...

vet:
	$(GO) vet ./...

## bench: kernel and training-step benchmarks (add BENCH=regexp to narrow)
bench:
	$(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem ./...

## parity: regenerate the PyTorch fixtures (needs Debian's python3-torch) and compare
parity:
	@$(PYTHON_TORCH) -c 'import torch' 2>/dev/null || { echo "make parity needs PyTorch: apt-get install python3-torch"; exit 1; }
	$(PYTHON_TORCH) scripts/parity/make_fixtures.py
	$(GO) test -count=1 -run 'Conformance' -v ./internal/backend/...

## data: lay out the real MNIST and CIFAR-10 from ../shared/datasets in .data/
data:
	../shared/datasets/prepare .data

clean:
	rm -rf bin
