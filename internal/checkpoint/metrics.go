package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// MetricsLog appends Records to a run folder's metrics.jsonl, one JSON
// object per line, each written straight to the file so that a reader (or
// a run that dies) sees every line logged so far.
type MetricsLog struct {
	f    *os.File
	size int64
}

// OpenMetrics opens the folder's metrics.jsonl for appending, first cutting
// it to keep bytes: what a run that died logged after its last checkpoint
// is logged again by the resumed run.
func (f *Folder) OpenMetrics(keep int64) (*MetricsLog, error) {
	file, err := os.OpenFile(f.Path(MetricsFile), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if keep > st.Size() {
		file.Close()
		return nil, fmt.Errorf("%w: %s has %d bytes, its checkpoint expects at least %d", ErrCheckpoint, f.Path(MetricsFile), st.Size(), keep)
	}
	if err := file.Truncate(keep); err != nil {
		file.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, err := file.Seek(keep, 0); err != nil {
		file.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &MetricsLog{f: file, size: keep}, nil
}

// Write appends one record.
func (l *MetricsLog) Write(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	n, err := l.f.Write(append(line, '\n'))
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Sync makes what was written durable.
func (l *MetricsLog) Sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Size is the file's length, for Progress.MetricsBytes.
func (l *MetricsLog) Size() int64 { return l.size }

// Close closes the file.
func (l *MetricsLog) Close() error { return l.f.Close() }

// ReadMetrics reads a metrics.jsonl file.
func ReadMetrics(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue // a blank line, as an editor may leave at the end
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrCheckpoint, path, line, jsonProblem(err, "a line of "+MetricsFile))
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", path, err)
	}
	return out, nil
}
