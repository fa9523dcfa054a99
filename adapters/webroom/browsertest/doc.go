// Package browsertest drives the web room's pages in headless Chromium
// against a whole sitrep: an empty room says how to send a first alert; an
// alert's card shows its buttons and the room's open incidents list it; a
// press acknowledges it and the card says so, and by whom, in place; a line
// about an incident gets a quiet confirmation; a line over the server's
// limit, or one the server refuses, stays in the input with the reason; a
// name a sender chose shows as unverified; after a restart the page
// reconnects and keeps what it showed; an incident's link opens its page;
// a room that is not there is a readable page. It writes screenshots to a
// temporary directory, which it prints.
//
// The test needs Chromium (CHROMIUM_PATH, or chromium / chromium-browser /
// google-chrome on PATH). Without one it is skipped, except when CI=true,
// where it fails.
package browsertest
