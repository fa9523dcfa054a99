// Drives sitrep's HipChat-compatible API with hipchatter, an unchanged HipChat
// v2 client from npm, its API root pointed at sitrep.
// Usage: node client.js <base URL> <token> <room>
// Prints one line per step; exits non-zero when a step does not go as HipChat's would.
'use strict';
const Hipchatter = require('hipchatter');

const [base, token, room] = process.argv.slice(2);
const hc = new Hipchatter(token, base.replace(/\/$/, '') + '/v2/');

function fail(msg) {
  console.log('FAIL ' + msg);
  process.exit(1);
}

hc.notify(room, { message: 'db-1 disk full (from hipchatter)', color: 'red', notify: true, message_format: 'text', token: token }, (err, body, status) => {
  if (err) fail('notification: ' + err.message);
  if (status !== 204) fail('notification: status ' + status);
  console.log('sent ' + status);
  hc.notify(room, { message: 'x', color: 'blue', token: token }, (err) => {
    if (!err) fail('a bad color was accepted');
    console.log('rejected: ' + err.message);
    process.exit(0);
  });
});
