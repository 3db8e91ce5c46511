# cnntrain — build, test, benchmark.
GO      ?= go
BIN     ?= bin/cnntrain
export CGO_ENABLED ?= 0

PYTHON_TORCH ?= /usr/bin/python3

.PHONY: build install train test bench bench-vs-pytorch vet data parity ptx ptxas-check gpu-bundle emulator clean

## build: the cnntrain binary in bin/
build:
	$(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/cnntrain

## install: cnntrain into $(go env GOPATH)/bin (on your PATH if Go's bin folder is)
install:
	$(GO) install -trimpath -buildvcs=auto ./cmd/cnntrain

## train: build, then train the MNIST notebook's CNN on the data in $(DATA): .data as
## `make data` prepares it from ../shared/datasets where that exists, else ./data, downloaded
DATA ?= $(if $(wildcard ../shared/datasets/prepare),.data,data)
train: build
	@if [ "$(DATA)" = .data ] && [ ! -d .data ]; then $(MAKE) --no-print-directory data; fi
	$(BIN) train --model cnn --dataset mnist --data-dir $(DATA)

## test: vet, the unit tests under the race detector, then a second pass without it: the real-data
## acceptance tests (TestReal*, run when CNNTRAIN_TEST_DATA names a prepared data folder, skipped
## loudly otherwise), the long tests (TestLong*: real processes killed at random, the emulated GPU's
## conformance variants) and the CUDA kernels' numerics on the host (C++ threads, which the race
## detector does not see). Every go test names its -timeout, sized for CI's 90 minutes: the
## deadlock guard is go test's, never a fixed wait inside a test.
TEST_TIMEOUT ?= 60m
NO_RACE = /internal/cuda/kernels$$
test: vet
	CGO_ENABLED=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -race -short $$($(GO) list ./... | grep -v '$(NO_RACE)')
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '^(TestReal|TestLong)' -v ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep '$(NO_RACE)')

vet:
	$(GO) vet ./...

## bench: kernel and training-step benchmarks (add BENCH=regexp to narrow)
bench:
	$(GO) test -timeout $(TEST_TIMEOUT) -run '^$$' -bench '$(or $(BENCH),.)' -benchmem ./...

## bench-vs-pytorch: training and evaluation images/s and the matrix product against PyTorch (Debian's
## python3-torch with libopenblas0-pthread) on the same cores, interleaved rounds, medians
## (ARGS='--rounds 3 --models lenet' to narrow; see scripts/bench-vs-pytorch)
bench-vs-pytorch:
	PYTHON_TORCH=$(PYTHON_TORCH) scripts/bench-vs-pytorch gemm
	PYTHON_TORCH=$(PYTHON_TORCH) scripts/bench-vs-pytorch $(ARGS)
	PYTHON_TORCH=$(PYTHON_TORCH) scripts/bench-vs-pytorch eval $(ARGS)

## parity: regenerate the PyTorch fixtures (needs Debian's python3-torch) and compare
parity:
	@$(PYTHON_TORCH) -c 'import torch' 2>/dev/null || { echo "make parity needs PyTorch: apt-get install python3-torch"; exit 1; }
	$(PYTHON_TORCH) scripts/parity/make_fixtures.py
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Conformance' -v ./internal/backend/...

## ptx: compile the CUDA kernels to PTX with NVRTC 12.4 (fetched into ~/.cache/nvrtc; no GPU needed),
## then assemble it as the driver would (ptxas-check)
NVRTC_DIR ?= $(HOME)/.cache/nvrtc
ptx:
	$(GO) run ./internal/cuda/cmd/ptxgen -nvrtc "$$(../shared/tools/get-nvrtc $(NVRTC_DIR) | tail -1)"
	$(MAKE) --no-print-directory ptxas-check

## ptxas-check: assemble the embedded PTX with NVIDIA's ptxas 12.4 (fetched into ~/.cache/ptxas; no GPU
## needed) for sm_75, 80, 86, 89 and 90, failing on any error, warning, spill or local memory, and
## check each kernel's parameter sizes against its launches (TestKernelParameterSizesMatchTheLaunches)
PTXAS_DIR ?= $(HOME)/.cache/ptxas
ptxas-check:
	scripts/ptxas-check "$$(../shared/tools/get-ptxas $(PTXAS_DIR) | tail -1)"
	CNNTRAIN_PTXAS_DIR=$(PTXAS_DIR)/bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'TestKernelParameterSizes' -v ./internal/cuda

## emulator: the CPU stand-in for NVIDIA's libraries in .emulator/ (run cnntrain on it with CNNTRAIN_CUDA_LIBS=$$PWD/.emulator)
emulator:
	$(GO) run ./internal/cuda/emulator/cmd/build-emulator .emulator

## gpu-bundle: what scripts/gpu-check.sh needs on a GPU machine without Go, in gpu/ (git-ignored):
## the binaries (CGO-free, xz-compressed) and the full CIFAR-10 as the shared JPEG archive with its
## converter to the official files (both from ../shared/datasets; the script takes its subset from
## them); 64 MiB at most in all (what a device run carries)
SHARED_DATA ?= ../shared/datasets
gpu-bundle:
	mkdir -p gpu
	$(GO) build -trimpath -o gpu/cnntrain ./cmd/cnntrain
	$(GO) test -c -o gpu/cuda.test ./internal/cuda
	cd $(SHARED_DATA)/tools/cifar10-from-jpeg && $(GO) build -trimpath -o $(CURDIR)/gpu/cifar10-from-jpeg .
	cd gpu && rm -f *.xz *.bin && xz -T2 -6 cnntrain cuda.test cifar10-from-jpeg
	cp $(SHARED_DATA)/cifar10-jpeg.tar.xz gpu/cifar10-jpeg.tar.xz
	grep -E '(data|test)_batch' $(SHARED_DATA)/MD5SUMS | sed 's|[^ ]*/||' >gpu/cifar10-MD5SUMS
	cd gpu && ls -l *.xz cifar10-MD5SUMS && total=$$(cat *.xz cifar10-MD5SUMS | wc -c) && \
	  echo "gpu-bundle: $$total bytes (limit $$((64 << 20)))" && [ $$total -le $$((64 << 20)) ]

## data: lay out the real MNIST and CIFAR-10 from ../shared/datasets in .data/
data:
	../shared/datasets/prepare .data

clean:
	rm -rf bin gpu
