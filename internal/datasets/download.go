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

// fetch downloads the missing files of d into dir, each from the first mirror
// that serves it intact or, for a dataset that ships as an archive, the
// archive once, unpacking the missing files from it. It stops at the first
// file no mirror could provide: when that happens the machine is usually
// offline, and trying the remaining files would only multiply the timeouts.
func fetch(ctx context.Context, d *dataset, dir string, missing []remoteFile, opt LoadOptions) error {
	f := &fetcher{ctx: ctx, d: d, client: opt.Client, mirrors: opt.Mirrors, prog: newProgress(opt.Progress)}
	if f.client == nil {
		f.client = defaultClient
	}
	if len(f.mirrors) == 0 {
		f.mirrors = d.mirrors
	}
	if d.archive != nil {
		return f.fetchArchive(dir, missing)
	}
	for i, file := range missing {
		err := f.fromMirrors(file.Name, func(u string) error {
			return fetchFile(ctx, f.client, u, filepath.Join(dir, file.Name), file.MD5, f.prog, d.info.Name+": "+file.Name)
		})
		if err != nil {
			return f.failed(err, dir, missing[i:])
		}
	}
	return nil
}

// fetcher holds what the downloads of one Load share.
type fetcher struct {
	ctx     context.Context
	d       *dataset
	client  *http.Client
	mirrors []string
	prog    *progress
}

// fromMirrors calls get with the URL of name on each mirror in turn until a
// call succeeds. It returns a *downloadError with every failure, or, once ctx
// is done, an error matching ctx.Err().
func (f *fetcher) fromMirrors(name string, get func(u string) error) error {
	failed := &downloadError{file: name}
	if len(f.mirrors) == 0 {
		failed.attempts = append(failed.attempts, errors.New("no mirror known"))
	}
	for i, m := range f.mirrors {
		if err := f.cancelled(); err != nil {
			return err
		}
		u := fileURL(m, name)
		err := get(u)
		if err == nil {
			return nil
		}
		if err := f.cancelled(); err != nil {
			return err
		}
		failed.attempts = append(failed.attempts, fmt.Errorf("%s: %w", u, err))
		// The final error lists every attempt; a failure is shown on its own
		// only when another mirror is tried after it.
		if i+1 < len(f.mirrors) {
			f.prog.line(fmt.Sprintf("%s: %s: %v; trying the next mirror", f.d.info.Name, u, err))
		}
	}
	return failed
}

func (f *fetcher) cancelled() error {
	if err := f.ctx.Err(); err != nil {
		return fmt.Errorf("%s: download cancelled: %w", f.d.info.Name, err)
	}
	return nil
}

// failed turns the error of fromMirrors into the one Load reports: a
// cancellation as it is, anything else as the files still missing.
func (f *fetcher) failed(err error, dir string, missing []remoteFile) error {
	if f.ctx.Err() != nil {
		return err
	}
	return &missingError{d: f.d, dir: dir, missing: missing, cause: err}
}

// fetchArchive downloads the dataset's archive into a temporary file in dir,
// verifying its MD5 on the way, unpacks the missing files from it and
// removes it.
func (f *fetcher) fetchArchive(dir string, missing []remoteFile) error {
	a, name := f.d.archive, f.d.info.Name
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		// A failed download must not leave an empty folder behind: it would
		// look like a dataset folder that lost its files.
		defer os.Remove(dir) // removes only an empty folder
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+a.Name+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: temporary file for %s: %w", name, a.Name, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	var from string
	err = f.fromMirrors(a.Name, func(u string) error {
		from = u
		return fetchURL(f.ctx, f.client, u, a.MD5, f.prog, name+": "+a.Name, func(fill func(io.Writer) error) error {
			// Start over: a mirror that failed may have left part of its copy.
			if err := tmp.Truncate(0); err != nil {
				return err
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			return fill(tmp)
		})
	})
	if err != nil {
		return f.failed(err, dir, missing)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %s: %w", name, tmp.Name(), err)
	}
	if err := unpack(f.ctx, tmp, a.Dir, dir, missing); err != nil {
		return f.failed(fmt.Errorf("unpack %s from %s: %w", a.Name, from, err), dir, missing)
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.Name
	}
	f.prog.line(fmt.Sprintf("%s: unpacked %s into %s", name, strings.Join(names, ", "), dir))
	return nil
}

// fileURL is the URL of file name on the mirror with base URL base.
func fileURL(base, name string) string {
	return strings.TrimSuffix(base, "/") + "/" + name
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
	return fetchURL(ctx, client, u, wantMD5, prog, label, func(fill func(io.Writer) error) error {
		return atomicfile.Write(path, fill)
	})
}

// fetchURL downloads u. store decides where the bytes go: it calls fill with
// a writer, and fill copies the body there, failing if the MD5 of what it
// copied is not wantMD5.
func fetchURL(ctx context.Context, client *http.Client, u, wantMD5 string, prog *progress, label string, store func(fill func(io.Writer) error) error) error {
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
	err = store(func(w io.Writer) error {
		if _, err := io.Copy(io.MultiWriter(w, h, prog), bodyReader{resp.Body}); err != nil {
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
		// A connection that breaks is the network's fault, not a write error.
		if berr, ok := errors.AsType[*bodyError](err); ok {
			if resp.ContentLength > 0 {
				return fmt.Errorf("the download broke off after %s of %s: %w", formatBytes(prog.done), formatBytes(resp.ContentLength), berr.err)
			}
			return fmt.Errorf("the download broke off after %s: %w", formatBytes(prog.done), berr.err)
		}
		return err
	}
	prog.finish(fmt.Sprintf("%s: downloaded %s from %s, MD5 ok", label, formatBytes(prog.done), u))
	return nil
}

// bodyReader marks the errors of reading a response, so that they are not
// mistaken for errors of writing the file.
type bodyReader struct{ r io.Reader }

type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
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
