# cnntrain — build, test, benchmark.
GO      ?= go
BIN     ?= bin/cnntrain
export CGO_ENABLED ?= 0

.PHONY: build test bench vet data clean

## build: the cnntrain binary in bin/
build:
	$(GO) build -trimpath -o $(BIN) ./cmd/cnntrain

## test: vet and every test; real-data tests run when CNNTRAIN_TEST_DATA names a prepared data folder
test: vet
	$(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

## bench: kernel and training-step benchmarks (add BENCH=regexp to narrow)
bench:
	$(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem ./...

## data: lay out the real MNIST and CIFAR-10 from ../shared/datasets in .data/
data:
	../shared/datasets/prepare .data

clean:
	rm -rf bin
