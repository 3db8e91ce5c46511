package vm

import (
	"fmt"
	"slices"
)

// align is the alignment of every planned tensor, in elements: 256 bytes,
// what GPU libraries expect of their operands and a whole number of cache
// lines on a CPU.
const align = 64

// page is the span, in elements, over which addresses are compared for
// aliasing: 4 KiB. A load whose address matches, modulo 4 KiB, a store just
// before it waits for that store (4K aliasing), so a kernel that reads one
// tensor and writes another whose offsets differ by a multiple of 4 KiB runs
// several times slower. Tensors therefore get colours: tensor i starts at
// an offset ≡ (i mod colours)·align modulo page, and an op's inputs and
// output, made one after another, never alias.
const (
	page    = 4096 / 4
	colours = page / align
)

// interval is one planned tensor: size elements, live from instruction
// first to instruction last (inclusive), its colour, and where it goes.
type interval struct {
	size, first, last int
	colour            int
	offset            int
}

// coloured is the first offset ≥ off with colour c.
func coloured(off, c int) int {
	want := (c % colours) * align
	off = roundUp(off)
	if r := off % page; r != want {
		off += (want - r + page) % page
	}
	return off
}

// Plan is the memory plan of a Program, in bytes.
type Plan struct {
	// Arena is the one allocation that holds every activation, gradient and
	// saved tensor, reused by liveness; Workspace is the largest scratch any
	// kernel asks for. Peak is their sum: the program's memory beyond the
	// model's own parameters and optimizer state.
	Arena, Workspace, Peak int64
	// Tensors is what the same tensors would take without reuse.
	Tensors int64
	// Count is the number of planned tensors, Instructions of kernel calls.
	Count, Instructions int
}

func (p Plan) String() string {
	return fmt.Sprintf("%d tensors (%.1f MB without reuse) in an arena of %.1f MB, workspace %.1f MB, %d instructions",
		p.Count, mb(p.Tensors), mb(p.Arena), mb(p.Workspace), p.Instructions)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// assignOffsets places every interval in one arena so that no two tensors
// live at the same time share memory, and returns the arena's size. It is
// the greedy-by-size heuristic: largest tensors first, each at the lowest
// offset free for its whole lifetime. Ties keep the order of ivs, so a plan
// is the same from run to run.
func assignOffsets(ivs []*interval) int {
	order := slices.Clone(ivs)
	slices.SortStableFunc(order, func(a, b *interval) int { return b.size - a.size })
	var placed []*interval
	total := 0
	for _, iv := range order {
		// The placed tensors alive at the same time, by offset.
		var busy []*interval
		for _, o := range placed {
			if o.first <= iv.last && iv.first <= o.last {
				busy = append(busy, o)
			}
		}
		slices.SortFunc(busy, func(a, b *interval) int { return a.offset - b.offset })
		off := coloured(0, iv.colour)
		for _, o := range busy {
			if off+iv.size <= o.offset {
				break
			}
			off = max(off, coloured(o.offset+o.size, iv.colour))
		}
		iv.offset = off
		placed = append(placed, iv)
		total = max(total, roundUp(off+iv.size))
	}
	return total
}

func roundUp(n int) int { return (n + align - 1) / align * align }
