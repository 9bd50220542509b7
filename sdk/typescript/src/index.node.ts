/**
 * Node entry point: request scopes through node:async_hooks, gzip through node:zlib, and a
 * drain of what is queued when the event loop empties (`beforeExit`) — the shipper's own timers
 * are unref'd, so it never keeps the process alive by itself.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { gzip } from "node:zlib";
import { settings } from "./config.js";
import { type Meta, setScopeStorage } from "./context.js";
import { platform } from "./platform.js";
import { shutdown, stats } from "./shipper.js";

setScopeStorage(new AsyncLocalStorage<Meta>());
platform.gzip = (text) =>
  new Promise((resolve) => {
    gzip(text, { level: 5 }, (error, out) => resolve(error ? null : new Uint8Array(out.buffer, out.byteOffset, out.byteLength)));
  });

// Drain once per time the loop empties with events queued: shutdown() drops what it could not
// send in time (counted), so the next beforeExit finds nothing and the process exits.
let draining = false;
process.on("beforeExit", () => {
  if (draining || stats().queued === 0) return;
  draining = true;
  void shutdown(settings().shutdownTimeout * 1000).finally(() => {
    draining = false;
  });
});

export * from "./index.js";
