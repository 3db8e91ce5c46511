package datasets

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
)

// defaultClient bounds each phase of a request so that an unreachable or
// stalled mirror fails in seconds and the next one gets its turn, while the
// overall limit stays generous enough for a slow link.
var defaultClient = &http.Client{
	Timeout: 30 * time.Minute,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	},
}

// fetch downloads the missing files of d into dir, trying the mirrors in
// order for each file. It stops at the first file no mirror could provide:
// when that happens the machine is usually offline, and trying the remaining
// files would only multiply the timeouts.
func fetch(ctx context.Context, d *dataset, dir string, missing []remoteFile, opt LoadOptions) error {
	client := opt.Client
	if client == nil {
		client = defaultClient
	}
	mirrors := opt.Mirrors
	if len(mirrors) == 0 {
		mirrors = d.mirrors
	}
	prog := newProgress(opt.Progress)
	for i, f := range missing {
		failed := &downloadError{file: f.Name}
		if len(mirrors) == 0 {
			failed.attempts = append(failed.attempts, errors.New("no mirror known"))
		}
		done := false
		for _, m := range mirrors {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: download cancelled: %w", d.info.Name, err)
			}
			u := strings.TrimSuffix(m, "/") + "/" + f.Name
			err := fetchFile(ctx, client, u, filepath.Join(dir, f.Name), f.MD5, prog, d.info.Name+": "+f.Name)
			if err == nil {
				done = true
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s: download cancelled: %w", d.info.Name, ctx.Err())
			}
			failed.attempts = append(failed.attempts, fmt.Errorf("%s: %w", u, err))
			prog.line(fmt.Sprintf("%s: %s: %v", d.info.Name, u, err))
		}
		if !done {
			return &missingError{d: d, dir: dir, missing: missing[i:], cause: failed}
		}
	}
	return nil
}

// downloadError collects why every mirror failed for one file.
type downloadError struct {
	file     string
	attempts []error
}

func (e *downloadError) Error() string {
	msgs := make([]string, len(e.attempts))
	for i, err := range e.attempts {
		msgs[i] = err.Error()
	}
	return e.file + ": " + strings.Join(msgs, "; ")
}

func (e *downloadError) Unwrap() []error { return e.attempts }

// fetchFile downloads one file to path, verifying its MD5 on the way. The
// file appears only when it is complete and verified.
func fetchFile(ctx context.Context, client *http.Client, u, path, wantMD5 string, prog *progress, label string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		// The caller prefixes the URL; *url.Error would repeat it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	h := md5.New()
	prog.start(label, resp.ContentLength)
	err = atomicfile.Write(path, func(w io.Writer) error {
		if _, err := io.Copy(io.MultiWriter(w, h, prog), resp.Body); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != wantMD5 {
			return &md5Error{got: got, want: wantMD5}
		}
		return nil
	})
	if err != nil {
		prog.abort()
		// atomicfile adds the path, which the caller's message already
		// implies; the mismatch alone reads better.
		if merr, ok := errors.AsType[*md5Error](err); ok {
			return merr
		}
		return err
	}
	prog.finish(fmt.Sprintf("%s: downloaded %s from %s, MD5 ok", label, formatBytes(prog.done), u))
	return nil
}

type md5Error struct{ got, want string }

func (e *md5Error) Error() string {
	return fmt.Sprintf("MD5 mismatch: got %s, want %s (corrupt or incomplete download; nothing was saved)", e.got, e.want)
}

// progress reports a download. On a terminal it redraws one line in place;
// elsewhere (logs, CI) it writes only one line per finished file, since
// carriage returns make a mess of files. Write errors are ignored: progress
// output must never fail a download.
type progress struct {
	w           io.Writer // nil: report nothing
	tty         bool
	label       string
	total, done int64 // total is -1 when the server did not say
	lastDraw    time.Time
	drawn       bool // a partial line is on the terminal
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

// isTerminal reports whether w is a character device, e.g. a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) start(label string, total int64) {
	p.label, p.total, p.done = label, total, 0
	p.lastDraw = time.Time{}
}

// Write counts bytes as they stream in.
func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.w != nil && p.tty && time.Since(p.lastDraw) >= 100*time.Millisecond {
		p.lastDraw = time.Now()
		size := formatBytes(p.done)
		if p.total > 0 {
			size = fmt.Sprintf("%s of %s (%d%%)", size, formatBytes(p.total), p.done*100/p.total)
		}
		fmt.Fprintf(p.w, "\r%s: downloading %s\x1b[K", p.label, size)
		p.drawn = true
	}
	return len(b), nil
}

// finish replaces the progress line with msg.
func (p *progress) finish(msg string) { p.line(msg) }

// abort clears a partial progress line; the caller reports the failure.
func (p *progress) abort() {
	if p.w != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// line writes a complete line, replacing a progress line if one is drawn.
func (p *progress) line(msg string) {
	if p.w == nil {
		return
	}
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", msg)
		p.drawn = false
		return
	}
	fmt.Fprintln(p.w, msg)
}

func formatBytes(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
