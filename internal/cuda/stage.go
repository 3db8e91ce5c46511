package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/cnntrain/cnntrain/internal/backend"
)

// A lane brings one input buffer's batches in from the host: the batch is
// copied into pinned host memory, sent to a device staging buffer on the
// copy stream, which the GPU does while it still computes the step before,
// and moved into the input buffer on the main stream, in order, with a
// device-to-device copy (a CUDA graph reads the input at a fixed address, so
// the staging buffer cannot simply take its place). Two slots alternate, so
// a batch can be on its way while the previous one is still being read.
type lane struct {
	n     int // elements per batch
	slots [2]laneSlot
	next  int
}

type laneSlot struct {
	host     unsafe.Pointer // pinned, n floats
	staging  *Buffer        // on the device, n floats
	uploaded uintptr        // event: the copy stream has read host into staging
	consumed uintptr        // event: the main stream has copied staging into the input
	used     bool           // the events were recorded
}

var _ backend.Stager = (*Backend)(nil)

// StagingBytes is a lane's memory for a buffer of n elements: a staging
// buffer per slot on the device, and as much pinned host memory.
func (b *Backend) StagingBytes(n int) int64 { return int64(len(lane{}.slots)) * int64(n) * 4 }

// Stage copies src into dst in the main stream's order, as Upload does, but
// from pinned memory on the copy stream, so that the transfer overlaps the
// work queued before it.
func (b *Backend) Stage(dst backend.Buffer, src []float32) error {
	d := dev(dst)
	if d.n != len(src) {
		return fmt.Errorf("cuda: staging %d values into a buffer of %d", len(src), d.n)
	}
	if err := b.noRecording("staging an upload"); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if b.pageable != "" {
		return b.Upload(dst, src)
	}
	l, err := b.laneFor(d)
	if err != nil {
		// Pinned memory or a staging buffer can be refused (a sandbox's
		// limits, a card nearly full): the batch then goes the plain way,
		// slower but the same, and BatchUploads says why.
		if ferr := b.freeLane(d.ptr); ferr != nil {
			return errors.Join(err, ferr)
		}
		b.pageable = err.Error()
		return b.Upload(dst, src)
	}
	s := &l.slots[l.next]
	l.next = 1 - l.next
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	drv := b.l.drv
	bytes := uint64(len(src)) * 4
	if s.used {
		// The copy that last read this slot's pinned memory must be done
		// before the host writes it again.
		if err := drv.check("cuEventSynchronize", drv.cuEventSynchronize(s.uploaded)); err != nil {
			return err
		}
	}
	copy(unsafe.Slice((*float32)(s.host), len(src)), src)
	if s.used {
		// Nor may the staging buffer change before the main stream has
		// copied it into the input.
		if err := drv.check("cuStreamWaitEvent", drv.cuStreamWaitEvent(b.copyStream, s.consumed, 0)); err != nil {
			return err
		}
	}
	if err := drv.check("cuMemcpyHtoDAsync (pinned)", drv.cuMemcpyHtoDAsync(s.staging.ptr, s.host, bytes, b.copyStream)); err != nil {
		return err
	}
	if err := drv.check("cuEventRecord", drv.cuEventRecord(s.uploaded, b.copyStream)); err != nil {
		return err
	}
	if err := drv.check("cuStreamWaitEvent", drv.cuStreamWaitEvent(b.stream, s.uploaded, 0)); err != nil {
		return err
	}
	if err := drv.check("cuMemcpyDtoDAsync", drv.cuMemcpyDtoDAsync(d.ptr, s.staging.ptr, bytes, b.stream)); err != nil {
		return err
	}
	if err := drv.check("cuEventRecord", drv.cuEventRecord(s.consumed, b.stream)); err != nil {
		return err
	}
	s.used = true
	return nil
}

// BatchUploads says how staged batches reach the GPU: from pinned memory on
// a copy stream, or, where that was refused, from pageable memory and why.
func (b *Backend) BatchUploads() string {
	if b.pageable != "" {
		return "from pageable memory (" + b.pageable + ")"
	}
	return "from pinned memory on a copy stream"
}

// laneFor returns dst's lane, made on its first batch (with the copy
// stream, on the first lane).
func (b *Backend) laneFor(dst *Buffer) (*lane, error) {
	if l, ok := b.lanes[dst.ptr]; ok && l.n == dst.n {
		return l, nil
	} else if ok { // the address was freed and reused for another buffer
		if err := b.freeLane(dst.ptr); err != nil {
			return nil, err
		}
	}
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	drv := b.l.drv
	if b.copyStream == 0 {
		if err := drv.check("cuStreamCreate (copy stream)", drv.cuStreamCreate(&b.copyStream, streamNonBlocking)); err != nil {
			return nil, err
		}
	}
	l := &lane{n: dst.n}
	b.lanes[dst.ptr] = l // freeLane releases what was made if a step below fails
	for i := range l.slots {
		s := &l.slots[i]
		if err := drv.check(fmt.Sprintf("cuMemHostAlloc of %d bytes", dst.n*4), drv.cuMemHostAlloc(&s.host, uint64(dst.n)*4, 0)); err != nil {
			return nil, err
		}
		buf, err := b.Alloc(dst.n)
		if err != nil {
			return nil, err
		}
		s.staging = buf.(*Buffer)
		for _, ev := range []*uintptr{&s.uploaded, &s.consumed} {
			if err := drv.check("cuEventCreate", drv.cuEventCreate(ev, eventNoTiming)); err != nil {
				return nil, err
			}
		}
	}
	// Alloc zeroes the staging buffers on the main stream: that must be done
	// before the copy stream writes them.
	if err := b.Sync(); err != nil {
		return nil, err
	}
	return l, nil
}

// freeLane waits for the GPU and releases the lane of the buffer at addr.
func (b *Backend) freeLane(addr uint64) error {
	l, ok := b.lanes[addr]
	if !ok {
		return nil
	}
	delete(b.lanes, addr)
	if err := b.syncAll(); err != nil {
		return err
	}
	var errs []error
	keep := func(err error) { errs = append(errs, err) }
	for _, s := range l.slots {
		if s.staging != nil {
			keep(b.Free(s.staging))
		}
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	drv := b.l.drv
	for _, s := range l.slots {
		if s.host != nil {
			keep(drv.check("cuMemFreeHost", drv.cuMemFreeHost(s.host)))
		}
		for _, ev := range []uintptr{s.uploaded, s.consumed} {
			if ev != 0 {
				keep(drv.check("cuEventDestroy", drv.cuEventDestroy(ev)))
			}
		}
	}
	return errors.Join(errs...)
}

// freeLanesIn releases the lanes of buffers inside [addr, addr+n elements):
// their buffer is being freed.
func (b *Backend) freeLanesIn(addr uint64, n int) error {
	for a := range b.lanes {
		if a >= addr && a < addr+uint64(n)*4 {
			if err := b.freeLane(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncAll waits for both streams.
func (b *Backend) syncAll() error {
	if err := b.Sync(); err != nil {
		return err
	}
	if b.copyStream == 0 {
		return nil
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	return b.l.drv.check("cuStreamSynchronize (copy stream)", b.l.drv.cuStreamSynchronize(b.copyStream))
}
