package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/workspace"
)

// The console's end-to-end tests drive Debian's chromium, headless, through
// the DevTools protocol (chromedp) against a real florad on 127.0.0.1: what
// a user clicks, through the public API, with a fresh browser profile.
// Every JavaScript console message of level error, every uncaught
// exception and every failed resource load fails the test. Screenshots of
// the main pages go to $FLORA_SCREENSHOTS when set, else to the test's
// artifact folder (kept with `go test -artifacts -outputdir DIR`).

// chromiumPath finds the browser, or skips: .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLORA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium; .ci/run does); the console's browser tests need it")
	return ""
}

// browser is one headless chromium with one tab, and what its pages
// reported to their console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string

	mu     sync.Mutex
	errors []string
	// expected are messages a test provoked on purpose (a refused key's
	// 401): each matches, by substring, one message that is then not an
	// error.
	expected []string
}

// newBrowser starts chromium with a window of width×height and a fresh
// profile, and with nothing that would reach out to the (closed) network.
func newBrowser(t *testing.T, base string, width, height int, mobile bool) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base, shot: screenshotDir(t)}
	// The first Run starts the browser for the context's whole life.
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		require.NoError(t, err, "starting chromium")
	}
	messages := chromedp.Console(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.report("%s at %s:%d", m.String(), m.URL, m.Line+1)
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		<-read
	})
	if mobile {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateMobile,
			chromedp.EmulateScale(2))))
	}
	// Checked after every step too; this catches what the last one left.
	t.Cleanup(b.requireNoErrors)
	return b
}

func (b *browser) report(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	for i, e := range b.expected {
		if strings.Contains(msg, e) {
			b.expected = append(b.expected[:i], b.expected[i+1:]...)
			return
		}
	}
	b.errors = append(b.errors, msg)
}

// waitExpected waits for the expected messages to arrive: the console's
// events come on their own connection, after the page has moved on.
func (b *browser) waitExpected(t *testing.T) {
	t.Helper()
	waitFor(t, patience, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.expected) == 0
	}, "the expected console messages never came")
}

// expect lets one console message containing substr through.
func (b *browser) expect(substr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, substr)
}

// requireNoErrors fails on anything the pages reported so far.
func (b *browser) requireNoErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		b.t.Errorf("the browser reported errors:\n%s", strings.Join(b.errors, "\n"))
		b.errors = nil
	}
	// A provoked message that never came means the listener is deaf.
	if len(b.expected) > 0 {
		b.t.Errorf("the browser never reported the expected %q", b.expected)
		b.expected = nil
	}
}

// run runs actions, with a deadline.
func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, patience)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// open loads the console at hash (#/...).
func (b *browser) open(t *testing.T, hash string) {
	t.Helper()
	b.run(t, chromedp.Navigate(b.base+"/console/"+hash))
}

// goTo changes the hash, as a click on a link does.
func (b *browser) goTo(t *testing.T, hash string) {
	t.Helper()
	evalJS[any](t, b, fmt.Sprintf("location.hash = %q", hash))
}

// evalJS evaluates expr in b's page.
func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, patience)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluating %s", expr)
	return v
}

// waitJS waits until the JavaScript expression is true, and shows the
// page's text when it never is.
func (b *browser) waitJS(t *testing.T, expr, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.getElementById('main').innerText"))
			require.FailNow(t, "timed out waiting for "+what, "expression %s (last error %v); the page says:\n%s", expr, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the text content of the first element matching css.
func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	return evalJS[string](t, b, fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", css))
}

// screenshot writes the whole page as name.png.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, patience)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	p := filepath.Join(b.shot, name+".png")
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot %s", p)
}

// requireLabelled checks that every form control of the page has a label
// (a <label for>, a wrapping label or an aria-label) a screen reader reads.
func (b *browser) requireLabelled(t *testing.T) {
	t.Helper()
	unlabelled := evalJS[[]string](t, b, `[...document.querySelectorAll('input, select, textarea, button')]
		.filter((e) => !e.hidden && e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
			&& !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map((e) => e.outerHTML)`)
	require.Empty(t, unlabelled, "form controls without a label")
}

// screenshotDir is $FLORA_SCREENSHOTS (created), else the artifact folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("FLORA_SCREENSHOTS"); d != "" {
		d = filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.ArtifactDir()
}

// signIn signs in with key, with the keyboard only: the key field has the
// focus when the page opens, and Enter submits.
func (b *browser) signIn(t *testing.T, key string) {
	t.Helper()
	b.open(t, "#/techniques")
	b.waitJS(t, `document.activeElement && document.activeElement.id === 'api-key'`, "the key field to have the focus")
	evalJS[string](t, b, `document.querySelector('#api-key').value = ''`)
	b.run(t, chromedp.SendKeys(chromedp.CSS("#api-key"), key+kb.Enter))
	b.waitJS(t, `document.querySelectorAll('#techniques article').length > 0`, "the catalog")
}

// TestConsole drives the console through a user's day: sign in, the
// catalog and its search, a portrait-enhancer run watched live from the
// playground, a video run canceled, the history paged through and
// filtered, a run's page, the workspace, and a webhook redelivered.
func TestConsole(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	// A rate limit the console stays under, so that the workspace page has
	// one to show.
	tb := setupWith(t, setupOpts{credits: 1000, configure: func(c *app.Config) { c.RateLimit = 200 }})
	br := newBrowser(t, tb.baseURL, 1280, 900, false)
	ctx := context.Background()
	step := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			fn(t)
			br.requireNoErrors()
		})
		if t.Failed() {
			t.FailNow()
		}
	}

	step("a wrong key is refused", func(t *testing.T) {
		// Chromium logs every 4xx answer as a failed load.
		br.expect("status of 401")
		br.open(t, "#/techniques")
		br.waitJS(t, `document.activeElement && document.activeElement.id === 'api-key'`, "the key field to have the focus")
		br.run(t, chromedp.SendKeys(chromedp.CSS("#api-key"), "sk_live_not-a-key"+kb.Enter))
		br.waitJS(t, `/invalid_api_key/.test((document.querySelector('#signin [role=alert]') || {}).textContent)`,
			"the refusal to show")
		require.True(t, evalJS[bool](t, br, `sessionStorage.length === 0 && document.querySelector('#nav').hidden`),
			"nothing kept, no navigation")
		br.waitExpected(t)
		br.screenshot(t, "signin-refused")
	})

	step("sign in", func(t *testing.T) {
		br.signIn(t, tb.key)
		br.requireLabelled(t)
		require.Contains(t, br.text(t, "#who"), "1000 credits")
		// Keyboard: each page puts the focus on its content; the skip link
		// does too, and leaves the page where it is; Tab goes on from there.
		require.Equal(t, "main", evalJS[string](t, br, `document.activeElement.id`))
		br.run(t, chromedp.Focus(chromedp.CSS(".skip")), chromedp.KeyEvent(kb.Enter))
		br.waitJS(t, `document.activeElement.id === 'main' && location.hash === '#/techniques'`, "the focus on the content")
		br.run(t, chromedp.KeyEvent(kb.Tab))
		require.Equal(t, "tech-search", evalJS[string](t, br, `document.activeElement.id`), "then the search field")
		br.screenshot(t, "techniques")
	})

	step("search the catalog", func(t *testing.T) {
		br.run(t, chromedp.SendKeys(chromedp.CSS("#tech-search"), "video"))
		br.waitJS(t, `[...document.querySelectorAll('#techniques article h2')].every((e) => /Video/.test(e.textContent))
			&& document.querySelectorAll('#techniques article').length === 2`, "the search to keep the two video techniques")
		br.goTo(t, "#/techniques/portrait-enhancer")
		br.waitJS(t, `document.querySelector('#playground')`, "the playground")
		br.requireLabelled(t)
		require.Contains(t, br.text(t, "main"), "5 credits")
		require.Contains(t, br.text(t, "main"), "output_image")
	})

	var playgroundRun string // the run started from the playground
	step("run portrait-enhancer and watch its progress", func(t *testing.T) {
		g := newGatedImages(t)
		br.goTo(t, "#/techniques/portrait-enhancer")
		br.waitJS(t, `document.querySelector('#in-input_image')`, "the input field")
		br.run(t, chromedp.SendKeys(chromedp.CSS("#in-input_image"), g.url()))
		require.Contains(t, br.text(t, "#snippet-curl"), "/api/v1/techniques/portrait-enhancer/runs")
		require.Contains(t, br.text(t, "#snippet-curl"), g.url())
		require.Contains(t, br.text(t, "#snippet-ts"), "client.techniques.runs.create('portrait-enhancer'")
		br.run(t, chromedp.Click(chromedp.CSS("#run-button")))
		waitSignal(t, g.fetches, "the worker never fetched the input")
		br.waitJS(t, `document.querySelector('#run-h code')`, "the run's id")
		playgroundRun = br.text(t, "#run-h code")
		// Held mid-run: the page shows it running, from the event stream.
		br.waitJS(t, `document.querySelector('#run-status[data-status=running]')`, "the run to show as running")
		br.waitJS(t, `document.querySelector('#run-timeline [data-type="run.started"]')`, "run.started in the timeline")
		before := evalJS[float64](t, br, `document.querySelector('#run-progress').value`)
		require.Less(t, before, 100.0)
		require.Zero(t, countJS(t, br, `#run-live .outputs img`), "no output before the step ends")
		br.screenshot(t, "playground-running")
		g.open()
		br.waitJS(t, `document.querySelector('#run-status[data-status=completed]')`, "the run to complete")
		br.waitJS(t, `(() => { const i = document.querySelector('#run-live .outputs img'); return i && i.complete && i.naturalWidth === 128 })()`,
			"the enhanced image (twice 64 px wide) to show")
		progress := evalJS[float64](t, br, `document.querySelector('#run-progress').value`)
		require.Equal(t, 100.0, progress)
		for _, typ := range []string{"run.created", "run.started", "run.output", "run.completed"} {
			require.Equal(t, 1, countJS(t, br, fmt.Sprintf(`#run-timeline [data-type=%q]`, typ)), "one %s", typ)
		}
		require.Contains(t, br.text(t, `[data-fact=Charged]`), "5 credits")
		require.Positive(t, countJS(t, br, `#run-timeline [data-type="run.progress"]`), "progress events")
		// Copy: to the clipboard, or, where the page may not write it,
		// the snippet selected for Ctrl+C.
		br.run(t, chromedp.Click(chromedp.CSS(".snippet .copy")))
		br.waitJS(t, `/Copied|Selected/.test(document.querySelector('.snippet [role=status]').textContent)`, "the copy to answer")
		if strings.Contains(br.text(t, ".snippet [role=status]"), "Selected") {
			require.Contains(t, evalJS[string](t, br, `String(getSelection())`), "curl -s", "the snippet selected")
		}
		require.True(t, evalJS[bool](t, br, `getComputedStyle(document.querySelector('#run-cancel')).display === 'none'`),
			"no cancel button on a completed run")
		br.waitJS(t, `/995 credits/.test(document.querySelector('#who').textContent)`, "the header's balance to follow the charge")
		require.Equal(t, int64(995), tb.balance(t, tb.wsID))
		br.screenshot(t, "playground")
	})

	step("leave a live run's page", func(t *testing.T) {
		g := newGatedImages(t)
		r := tb.startGatedRun(t, g)
		br.goTo(t, "#/runs/portrait-enhancer/"+r.RunID)
		br.waitJS(t, `document.querySelector('#run-status[data-status=running]')
			&& document.querySelector('#run-timeline [data-type="run.started"]')`, "the run page, live")
		// Leaving ends the page's stream (an aborted fetch: no error).
		br.goTo(t, "#/runs")
		br.waitJS(t, `document.querySelector('#runs tbody tr')`, "the history")
		g.open()
		tb.wait(t, tb.client, "portrait-enhancer", r.RunID)
		// Coming back to the ended run: its whole timeline and output.
		br.goTo(t, "#/runs/portrait-enhancer/"+r.RunID)
		br.waitJS(t, `document.querySelector('#run-status[data-status=completed]')
			&& document.querySelectorAll('#run-timeline li').length >= 4`, "the ended run's timeline")
		require.Contains(t, br.text(t, "main"), "the console shows them for runs started in this tab",
			"a run started elsewhere: the page says why it has no inputs")
	})

	step("run portrait-enhancer on an uploaded file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "portrait.png")
		require.NoError(t, os.WriteFile(file, encodePNG(t), 0o600))
		br.goTo(t, "#/techniques")
		br.goTo(t, "#/techniques/portrait-enhancer")
		br.waitJS(t, `document.querySelector('#in-input_image-file')`, "the file field")
		br.run(t, chromedp.SetUploadFiles(chromedp.CSS("#in-input_image-file"), []string{file}),
			chromedp.Click(chromedp.CSS("#run-button")))
		br.waitJS(t, `document.querySelector('#run-status[data-status=completed]')`, "the run to complete")
		br.waitJS(t, `(() => { const i = document.querySelector('#run-live .outputs img'); return i && i.complete && i.naturalWidth === 128 })()`,
			"the enhanced image to show")
		// The file became the workspace's one asset, and the run's input is
		// its URL.
		assets, err := tb.client.Assets.List(ctx, nil)
		require.NoError(t, err)
		require.Len(t, assets.Assets, 1)
		a := assets.Assets[0]
		require.Equal(t, "image/png", a.ContentType)
		require.Equal(t, int64(len(encodePNG(t))), a.SizeBytes)
		require.Contains(t, br.text(t, "#playground"), "Uploaded as "+a.AssetID)
		// (signed URLs: the same file, another signature each time)
		require.Contains(t, br.text(t, "#run-live dl.facts dd.wrap"), a.AssetID)
		br.screenshot(t, "playground-upload")
	})

	step("cancel a video run", func(t *testing.T) {
		for _, bin := range []string{"ffmpeg", "ffprobe"} {
			if _, err := exec.LookPath(bin); err != nil {
				t.Skipf("%s is not installed; the video models need it", bin)
			}
		}
		videoURL := serveLongVideo(t)
		_, _, err := tb.app.Techniques.Apply(ctx, tb.app.Store, tb.wsID, "slow-transcode.yaml", []byte(slowTranscodeWith(crfConsole)))
		require.NoError(t, err)
		br.goTo(t, "#/techniques/slow-transcode")
		br.waitJS(t, `document.querySelector('#in-input_video')`, "the video input")
		br.run(t, chromedp.SendKeys(chromedp.CSS("#in-input_video"), videoURL),
			chromedp.Click(chromedp.CSS("#run-button")))
		br.waitJS(t, `document.querySelector('#run-status[data-status=running]')`, "the video run to be running")
		// Cancel with the keyboard: focus the button, press Enter.
		br.run(t, chromedp.Focus(chromedp.CSS("#run-cancel")), chromedp.KeyEvent(kb.Enter))
		br.waitJS(t, `document.querySelector('#run-status[data-status=failed]')`, "the run to end failed")
		require.Contains(t, br.text(t, "#run-error"), "run_canceled")
		br.waitJS(t, `document.querySelector('#run-timeline [data-type="run.failed"]')`, "run.failed in the timeline")
		require.True(t, evalJS[bool](t, br, `getComputedStyle(document.querySelector('#run-cancel')).display === 'none'`),
			"no cancel button on an ended run")
		runs, err := tb.client.Runs.List(ctx, &client.RunListParams{Status: client.StatusFailed})
		require.NoError(t, err)
		require.Len(t, runs.TechniqueRuns, 1)
		require.Equal(t, "run_canceled", runs.TechniqueRuns[0].ErrorCode)
		br.screenshot(t, "run-canceled")
	})

	step("preview a video run's outputs", func(t *testing.T) {
		for _, bin := range []string{"ffmpeg", "ffprobe"} {
			if _, err := exec.LookPath(bin); err != nil {
				t.Skipf("%s is not installed; the video models need it", bin)
			}
		}
		videoURL := serveLongVideo(t)
		br.goTo(t, "#/techniques/video-preview")
		br.waitJS(t, `document.querySelector('#in-input_video')`, "the video input")
		br.run(t, chromedp.SendKeys(chromedp.CSS("#in-input_video"), videoURL),
			chromedp.Click(chromedp.CSS("#run-button")))
		br.waitJS(t, `document.querySelector('#run-status[data-status=completed]')`, "the video run to complete")
		br.waitJS(t, `(() => { const i = document.querySelector('[data-output=preview_animation] img'); return i && i.complete && i.naturalWidth === 320 })()`,
			"the GIF preview, 320 px wide")
		br.waitJS(t, `(() => { const v = document.querySelector('[data-output=preview_clip] video'); return v && !v.error && v.readyState >= 1 && v.videoWidth === 640 })()`,
			"the MP4 clip's metadata in its player")
		br.screenshot(t, "playground-video")
	})

	step("page through the history", func(t *testing.T) {
		for i := range 23 {
			_, err := tb.client.Runs.Create(ctx, "prompt-expander", promptRun(fmt.Sprintf("history %d", i)))
			require.NoError(t, err)
		}
		all := allRunIDs(t, tb)
		br.goTo(t, "#/runs?limit=10")
		seen := map[string]bool{}
		for page := 1; ; page++ {
			br.waitJS(t, fmt.Sprintf(`document.querySelector('#page-number').textContent === 'Page %d'`, page), "the page number")
			ids := evalJS[[]string](t, br, `[...document.querySelectorAll('#runs tbody a')].map((a) => a.textContent)`)
			require.NotEmpty(t, ids)
			require.LessOrEqual(t, len(ids), 10)
			for _, id := range ids {
				require.False(t, seen[id], "run %s shown on two pages", id)
				seen[id] = true
			}
			if page == 2 {
				br.screenshot(t, "runs")
			}
			last := evalJS[bool](t, br, `document.querySelector('#page-next').disabled`)
			if last {
				break
			}
			br.run(t, chromedp.Click(chromedp.CSS("#page-next")))
		}
		require.Len(t, seen, len(all), "the pages show every run once")
		br.run(t, chromedp.Click(chromedp.CSS("#page-prev")))
		br.waitJS(t, `document.querySelector('#page-number').textContent === 'Page 2'`, "back to page 2")

		// Filters: the form writes them into the address, the list follows.
		br.goTo(t, "#/runs")
		br.waitJS(t, `document.querySelectorAll('#f-technique option').length > 1`, "the technique filter")
		br.requireLabelled(t)
		br.run(t, chromedp.SetValue(chromedp.CSS("#f-status"), "failed"),
			chromedp.Click(chromedp.CSS("#run-filters button[type=submit]")))
		br.waitJS(t, `/[?&]status=failed/.test(location.hash) && document.querySelectorAll('#runs tbody tr').length === 1`,
			"only the canceled run")
		today := time.Now().UTC().Format("2006-01-02")
		tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02")
		br.goTo(t, "#/runs?after="+tomorrow)
		br.waitJS(t, `/No runs match/.test(document.querySelector('#runs').textContent)`, "no run created after tomorrow")
		br.goTo(t, "#/runs?limit=100&before="+today)
		br.waitJS(t, fmt.Sprintf(`document.querySelectorAll('#runs tbody tr').length === %d`, len(all)), "every run created by today")
	})

	step("a run's page", func(t *testing.T) {
		br.goTo(t, "#/runs?technique_id=portrait-enhancer")
		link := fmt.Sprintf(`#runs tbody a[href$="/%s"]`, playgroundRun)
		br.waitJS(t, fmt.Sprintf(`document.querySelector('%s')`, link), "the playground's run in the history")
		br.run(t, chromedp.Click(chromedp.CSS(link)))
		br.waitJS(t, `document.querySelector('#run-status[data-status=completed]')
			&& document.querySelector('#run-timeline [data-type="run.completed"]')`, "the run page and its timeline")
		br.waitJS(t, `(() => { const i = document.querySelector('.outputs img'); return i && i.complete && i.naturalWidth === 128 })()`,
			"the output image")
		require.Contains(t, br.text(t, "main"), "input_image", "inputs of a run started in this tab")
		br.screenshot(t, "run")
	})

	step("workspace, ledger and key", func(t *testing.T) {
		// Runs of the earlier steps may still be settling; the page and
		// the ledger read below must see the same entries.
		tb.waitSettled(t)
		br.goTo(t, "#/workspace")
		br.waitJS(t, `document.querySelector('#ledger tbody')`, "the ledger")
		require.Equal(t, fmt.Sprintf("%d credits", tb.balance(t, tb.wsID)), br.text(t, "#balance"))
		require.Equal(t, "200 requests/s, bursts of 400", br.text(t, "#rate-limit"))
		scopes := evalJS[[]string](t, br, `[...document.querySelectorAll('#scopes li')].map((li) => li.textContent)`)
		require.ElementsMatch(t, []string{"runs:write", "runs:read", "techniques:read", "webhooks:manage"}, scopes)
		require.Equal(t, 20, countJS(t, br, "#ledger tbody tr"), "a full first page")
		require.Equal(t, "led_1", br.text(t, "#ledger tbody td"), "oldest first")
		// The newest entries: the last page ends with the balance.
		entries := tb.ledger(t, tb.wsID)
		br.run(t, chromedp.Click(chromedp.CSS("#ledger-last")))
		br.waitJS(t, fmt.Sprintf(`document.querySelector('#ledger-page').textContent.startsWith('Page %d ')`, (len(entries)+19)/20),
			"the last ledger page")
		lastRow := evalJS[[]string](t, br, `[...document.querySelectorAll('#ledger tbody tr:last-child td')].map((td) => td.textContent)`)
		require.Equal(t, fmt.Sprintf("led_%d", entries[len(entries)-1].Seq), lastRow[0])
		require.Equal(t, fmt.Sprint(tb.balance(t, tb.wsID)), lastRow[3], "balance after the newest entry")
		br.screenshot(t, "workspace")
	})

	step("redeliver a webhook", func(t *testing.T) {
		hook := statusHookReceiver(t, http.StatusOK)
		p := promptRun("webhook")
		p.CallbackURL = hook.hookURL()
		created, err := tb.client.Runs.Create(ctx, "prompt-expander", p)
		require.NoError(t, err)
		d := waitDelivery(t, tb.client, created.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
		br.goTo(t, "#/webhooks")
		sel := fmt.Sprintf(`[data-delivery=%q]`, d.ID)
		br.waitJS(t, fmt.Sprintf(`document.querySelector('%s .attempt-count').textContent === '1'`, sel), "the delivery")
		br.requireLabelled(t)
		br.run(t, chromedp.Click(chromedp.CSS(sel+" button.redeliver")))
		br.waitJS(t, fmt.Sprintf(`document.querySelector('%s .attempt-count').textContent === '2'`, sel),
			"the second attempt to show")
		require.Len(t, hook.requests(), 2, "the receiver got the delivery twice")
		require.Equal(t, hook.requests()[0].body, hook.requests()[1].body, "the same bytes")
		br.screenshot(t, "webhooks")
	})

	step("sign out", func(t *testing.T) {
		br.run(t, chromedp.Click(chromedp.CSS("#signout")))
		br.waitJS(t, `document.querySelector('#api-key') && sessionStorage.length === 0`, "the sign-in page, the key gone")
	})

	step("a revoked key is signed out", func(t *testing.T) {
		k, err := tb.app.Workspaces.CreateKey(ctx, tb.wsID)
		require.NoError(t, err)
		br.signIn(t, k.Key)
		require.NoError(t, tb.app.Workspaces.RevokeKey(ctx, k.KeyID))
		// The history page asks for runs and techniques at once: both refused.
		br.expect("status of 401")
		br.expect("status of 401")
		br.goTo(t, "#/runs")
		br.waitJS(t, `document.querySelector('#api-key') && sessionStorage.length === 0
			&& /refused the key/.test(document.querySelector('main').textContent)`, "the sign-in page, saying why")
		br.waitExpected(t)
	})
}

// TestConsoleScopedKey: the console can do nothing its key cannot. A key
// that may read runs and techniques sees its scopes, and the API's refusals,
// naming the missing scope, when it starts a run or lists deliveries.
func TestConsoleScopedKey(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	tb := setupWith(t, setupOpts{credits: 1000})
	ctx := context.Background()
	k, err := tb.app.Workspaces.CreateKeyWith(ctx, tb.wsID,
		workspace.KeyOptions{Scopes: []string{"runs:read", "techniques:read"}})
	require.NoError(t, err)
	br := newBrowser(t, tb.baseURL, 1280, 900, false)
	br.signIn(t, k.Key)

	br.goTo(t, "#/workspace")
	br.waitJS(t, `document.querySelector('#scopes li')`, "the key's scopes")
	scopes := evalJS[[]string](t, br, `[...document.querySelectorAll('#scopes li')].map((li) => li.textContent)`)
	require.ElementsMatch(t, []string{"runs:read", "techniques:read"}, scopes)

	br.goTo(t, "#/techniques/prompt-expander")
	br.waitJS(t, `document.querySelector('#in-prompt')`, "the playground")
	br.expect("status of 403")
	br.run(t, chromedp.SendKeys(chromedp.CSS("#in-prompt"), "a lighthouse"), chromedp.Click(chromedp.CSS("#run-button")))
	br.waitJS(t, `/forbidden: This API key lacks the runs:write scope/.test(document.querySelector('#playground').textContent)`,
		"the refusal to run")
	br.waitExpected(t)
	require.Zero(t, tb.countRuns(t, tb.wsID), "no run made")

	br.expect("status of 403")
	br.goTo(t, "#/webhooks")
	br.waitJS(t, `/lacks the webhooks:manage scope/.test(document.querySelector('#deliveries').textContent)`,
		"the refusal to list deliveries")
	br.waitExpected(t)
	br.screenshot(t, "scoped-key")
	br.requireNoErrors()
}

// TestConsolePhone: at a phone's width (375 CSS pixels) every main page
// fits without sideways scrolling.
func TestConsolePhone(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	tb := setupWith(t, setupOpts{credits: 1000})
	ctx := context.Background()
	created, err := tb.client.Runs.Create(ctx, "portrait-enhancer", portraitRun(tb.imageURL("portrait.png")))
	require.NoError(t, err)
	tb.wait(t, tb.client, "portrait-enhancer", created.RunID)
	hook := statusHookReceiver(t, http.StatusInternalServerError)
	p := promptRun("phone")
	p.CallbackURL = hook.hookURL()
	hooked, err := tb.client.Runs.Create(ctx, "prompt-expander", p)
	require.NoError(t, err)
	waitDelivery(t, tb.client, hooked.RunID, func(d deliveryJSON) bool { return d.AttemptCount >= 1 })

	br := newBrowser(t, tb.baseURL, 375, 812, true)
	br.signIn(t, tb.key)
	pages := []struct{ name, hash, ready string }{
		{"techniques", "#/techniques", `#techniques article`},
		{"technique", "#/techniques/portrait-enhancer", `#playground`},
		{"runs", "#/runs", `#runs tbody tr`},
		{"run", "#/runs/portrait-enhancer/" + created.RunID, `#run-timeline [data-type="run.completed"]`},
		{"workspace", "#/workspace", `#ledger tbody tr`},
		{"webhooks", "#/webhooks", `[data-delivery]`},
	}
	for _, pg := range pages {
		br.goTo(t, pg.hash)
		br.waitJS(t, fmt.Sprintf(`document.querySelector(%q)`, pg.ready), pg.name)
		width := evalJS[struct {
			Inner  int `json:"inner"`
			Scroll int `json:"scroll"`
		}](t, br, `({inner: window.innerWidth, scroll: document.documentElement.scrollWidth})`)
		if width.Inner != 375 || width.Scroll > width.Inner {
			// A mobile viewport widens to its content: name what sticks out.
			wide := evalJS[[]string](t, br, `[...document.querySelectorAll('body *')]
				.filter((e) => e.getBoundingClientRect().right > 375.5)
				.map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
				.slice(0, 10)`)
			require.FailNow(t, pg.name+" is wider than a 375 px phone",
				"viewport %d, content %d; elements past 375 px: %v", width.Inner, width.Scroll, wide)
		}
		br.screenshot(t, "phone-"+pg.name)
	}
	br.requireNoErrors()
}

// countJS counts the elements matching css.
func countJS(t *testing.T, br *browser, css string) int {
	t.Helper()
	return evalJS[int](t, br, fmt.Sprintf("document.querySelectorAll(%q).length", css))
}

// allRunIDs lists the workspace's runs through the API.
func allRunIDs(t *testing.T, tb *testBundle) []string {
	t.Helper()
	l, err := tb.client.Runs.List(context.Background(), &client.RunListParams{Limit: 100})
	require.NoError(t, err)
	require.Empty(t, l.NextCursor(), "fewer than 100 runs")
	ids := make([]string, 0, len(l.TechniqueRuns))
	for _, r := range l.TechniqueRuns {
		ids = append(ids, r.RunID)
	}
	return ids
}

// serveLongVideo makes a 20 s video (about a second with ffmpeg) that the
// slow-transcode technique takes tens of seconds to re-encode, and serves
// it on 127.0.0.1.
func serveLongVideo(t *testing.T) string {
	t.Helper()
	video := filepath.Join(t.TempDir(), "long.mp4")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=20",
		"-c:v", "mpeg4", "-q:v", "12", video).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(video)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/long.mp4"
}
