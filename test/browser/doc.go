// Package browser drives headless Chromium (chromedp) through Farewell's own
// pages and through a page on another origin that calls the API exactly as
// the event's existing frontend does. The tests need the running local stack
// (`make run`) and the chromium package (`.run/bin/stack tools`, the first step of `make test`); they
// skip under `go test -short`. Screenshots go to .run/screenshots/.
package browser
