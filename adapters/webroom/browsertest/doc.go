// Package browsertest drives a web room's page (page.html) in headless
// Chromium: messages posted from Go show up, a command typed in the page
// reaches the Handler, updates change the message in place, and the page
// reconnects and re-renders the history after a server restart.
//
// The test needs Chromium (CHROMIUM_PATH, or chromium / chromium-browser /
// google-chrome on PATH). Without one it is skipped, except when CI=true,
// where it fails.
package browsertest
