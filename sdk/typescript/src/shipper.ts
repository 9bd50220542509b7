/**
 * Background shipping: bounded queue → batches (≤ maxBatchEvents, ≤ maxBatchBytes) → gzip POST
 * → retries → counted drops. The same contract as the Python SDK (sdk/python/costobs/_shipper.py).
 *
 * Delivery guarantee: at least once from the SDK's side. A batch keeps its `batch_id` on every
 * retry and each event its `request_id`, so the ingest stores it exactly once. Memory is bounded
 * by `maxQueueEvents` (calls waiting, serialised or not); what does not fit, is refused by the
 * ingest or outlives its retries is dropped and counted by reason (`stats().dropped`).
 * Recovery (the same rule as the Python SDK): backoff belongs to one batch, so a success starts
 * the next batch afresh; while more than one batch waits, the ingest is probed every 0.5 s
 * (0.1 s once events are being dropped) instead of waiting out a long backoff, a `Retry-After`
 * still setting the floor; only waits of the full backoff count towards `maxRetries`. So once
 * ingest is back the backlog goes out back to back instead of being dropped while it waits.
 * Timers are unref'd: the shipper never keeps a Node process alive on its own; the Node entry
 * drains on `beforeExit`. Nothing here ever rejects into user code.
 */

import { type Settings, settings } from "./config.js";
import { type Call, toWire } from "./event.js";
import { report } from "./guard.js";
import { platform } from "./platform.js";
import { COUNTERS, type Stats } from "./stats.js";
import { VERSION } from "./version.js";

const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
/** Longest wait between attempts while more than one batch is waiting… */
const PROBE_MS = 500;
/** … and once events were dropped (queue full) since the last accepted batch. */
const PROBE_DROPPING_MS = 100;

type Timer = ReturnType<typeof setTimeout>;
function unref(t: Timer): Timer {
  (t as { unref?: () => void }).unref?.();
  return t;
}

/** Seconds from a `Retry-After` header (delta-seconds or HTTP date). */
export function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.max(0, Number(text));
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

/** Jittered exponential backoff in seconds (attempt 0 is the first retry); Retry-After is a floor. */
export function backoffDelay(attempt: number, base: number, cap: number, retryAfter: number | null): number {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  let delay = ceiling * (0.5 + Math.random() / 2);
  if (retryAfter !== null) delay = Math.max(delay, Math.min(retryAfter, cap) * (1 + Math.random() / 10));
  return delay;
}

function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) bytes += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

interface Sleep {
  end: number;
  /** Not before this (Retry-After). */
  floor: number;
  /** The full backoff was cut short by a probe. */
  cut: boolean;
  timer: Timer;
  resolve: () => void;
}

export class Shipper {
  private queue: Call[] = [];
  private ready: string[] = [];
  private inflight = 0;
  private timer: Timer | null = null;
  private running: Promise<void> | null = null;
  private sleeping: Sleep | null = null;
  private closed = false;
  private stopDeadline = Number.POSITIVE_INFINITY;
  private waiters: Array<() => void> = [];
  /** Events were dropped since the last accepted batch: probe sooner. */
  private dropping = false;

  pending(): number {
    return this.queue.length + this.ready.length + this.inflight;
  }

  submit(call: Call): void {
    const s = settings();
    if (this.closed) {
      COUNTERS.drop("shutdown");
      return;
    }
    if (this.pending() >= s.maxQueueEvents) {
      COUNTERS.drop("queue_full");
      if (!this.dropping) {
        this.dropping = true;
        this.probeSoon(s);
      }
      return;
    }
    this.queue.push(call);
    if (this.queue.length >= s.maxBatchEvents) this.schedule(0);
    else if (this.timer === null) this.schedule(s.flushInterval * 1000);
  }

  private schedule(ms: number): void {
    if (this.running !== null) return; // the running pump takes what is queued
    if (this.timer !== null) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = unref(
      setTimeout(() => {
        this.timer = null;
        this.kick();
      }, ms),
    );
  }

  private kick(): void {
    if (this.running !== null) return;
    this.running = this.pump()
      .catch(report)
      .finally(() => {
        this.running = null;
        this.notify();
        if (this.queue.length || this.ready.length) this.schedule(this.closed ? 0 : settings().flushInterval * 1000);
      });
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** A waiting backlog does not wait out a long backoff: the batch being retried is probed soon. */
  private probeSoon(s: Settings): void {
    const sleep = this.sleeping;
    if (sleep === null) return;
    const probe = this.dropping ? PROBE_DROPPING_MS : this.pending() > s.maxBatchEvents ? PROBE_MS : null;
    if (probe === null) return;
    const soon = Math.max(Date.now() + probe, sleep.floor);
    if (sleep.end <= soon) return;
    clearTimeout(sleep.timer);
    sleep.end = soon;
    sleep.cut = true;
    sleep.timer = unref(setTimeout(sleep.resolve, soon - Date.now()));
  }

  private async pump(): Promise<void> {
    for (;;) {
      const s = settings();
      while (this.ready.length < s.maxBatchEvents && this.queue.length) {
        const call = this.queue.shift() as Call;
        try {
          this.ready.push(JSON.stringify(toWire(call)));
        } catch (error) {
          COUNTERS.drop("serialise_error");
          report(error);
        }
      }
      if (!this.ready.length) return;
      if (Date.now() >= this.stopDeadline) return;
      const items: string[] = [];
      let size = 0;
      while (this.ready.length && items.length < s.maxBatchEvents) {
        const next = utf8Length(this.ready[0] as string) + 1;
        if (items.length && size + next > s.maxBatchBytes) break;
        items.push(this.ready.shift() as string);
        size += next;
      }
      this.inflight = items.length;
      try {
        await this.sendBatch(items, s);
      } finally {
        this.inflight = 0;
        this.notify();
      }
    }
  }

  private async sendBatch(items: string[], s: Settings): Promise<void> {
    if (!s.apiKey) {
      COUNTERS.drop("no_api_key", items.length);
      console.warn("costobs: no apiKey configured (COSTOBS_API_KEY); events dropped");
      return;
    }
    const batchId = crypto.randomUUID();
    const text = `{"batch_id":"${batchId}","events":[${items.join(",")}]}`;
    let body: string | Uint8Array = text;
    let gzipped = false;
    if (s.gzip) {
      const compressed = await platform.gzip(text);
      if (compressed !== null) {
        body = compressed;
        gzipped = true;
      }
    }
    for (let attempt = 0; ; ) {
      const [status, retryAfter, answer] = await this.post(body, gzipped, s);
      if (status !== null && status >= 200 && status < 300) {
        this.accepted(answer, items.length);
        return;
      }
      if (status === 413 && items.length > 1) {
        const half = Math.floor(items.length / 2);
        await this.sendBatch(items.slice(0, half), s);
        await this.sendBatch(items.slice(half), s);
        return;
      }
      if (status !== null && !RETRY_STATUSES.has(status)) {
        const reason =
          status === 401 || status === 403
            ? "unauthorized"
            : status === 413
              ? "too_large"
              : status === 400
                ? "bad_request"
                : `http_${status}`;
        console.warn(`costobs: ingest answered ${status}; ${items.length} events dropped`);
        COUNTERS.drop(reason, items.length);
        return;
      }
      if (attempt >= s.maxRetries) {
        COUNTERS.drop("retries_exhausted", items.length);
        return;
      }
      const delay = backoffDelay(attempt, s.backoffBase, s.backoffMax, retryAfter);
      const floor = retryAfter === null ? 0 : Math.min(retryAfter, s.backoffMax) * 1000;
      COUNTERS.retried += 1;
      const waited = await this.sleep(delay * 1000, floor, s);
      if (waited === "stop") {
        COUNTERS.drop("shutdown", items.length);
        return;
      }
      if (waited === "full") attempt += 1; // a probe does not use up a retry
    }
  }

  /** Wait `ms` (a probe may cut it short, not below `floorMs`); "stop" when stopping and out of time. */
  private sleep(ms: number, floorMs: number, s: Settings): Promise<"full" | "probe" | "stop"> {
    if (Date.now() >= this.stopDeadline) return Promise.resolve("stop");
    return new Promise((resolve) => {
      const now = Date.now();
      const sleep: Sleep = {
        end: now + ms,
        floor: now + floorMs,
        cut: false,
        timer: undefined as unknown as Timer,
        resolve: () => {
          this.sleeping = null;
          resolve(Date.now() >= this.stopDeadline ? "stop" : sleep.cut ? "probe" : "full");
        },
      };
      // when stopping, never past the deadline
      sleep.timer = unref(setTimeout(sleep.resolve, Math.max(0, Math.min(ms, this.stopDeadline - now))));
      this.sleeping = sleep;
      this.probeSoon(s);
    });
  }

  private accepted(answer: string, count: number): void {
    let result: { accepted?: number; duplicates?: number; rejected?: unknown[] } = {};
    try {
      result = answer ? JSON.parse(answer) : {};
    } catch {
      result = {};
    }
    const accepted = Number(result.accepted ?? count);
    const duplicates = Number(result.duplicates ?? 0);
    this.dropping = false;
    COUNTERS.sent += accepted + duplicates;
    COUNTERS.duplicates += duplicates;
    COUNTERS.batches += 1;
    const rejected = Array.isArray(result.rejected) ? result.rejected : [];
    if (rejected.length) {
      COUNTERS.drop("rejected", rejected.length);
      console.warn(`costobs: ingest rejected ${rejected.length} event(s): ${JSON.stringify(rejected[0])}`);
    }
  }

  private async post(body: string | Uint8Array, gzipped: boolean, s: Settings): Promise<[number | null, number | null, string]> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${s.apiKey}`,
      "Content-Type": "application/json",
      "User-Agent": `costobs-typescript/${VERSION}`,
    };
    if (gzipped) headers["Content-Encoding"] = "gzip";
    let timeout = s.requestTimeout * 1000;
    if (Number.isFinite(this.stopDeadline)) timeout = Math.max(50, Math.min(timeout, this.stopDeadline - Date.now()));
    const doFetch = s.fetch ?? fetch;
    try {
      const url = `${s.ingestUrl.replace(/\/+$/, "")}/v1/events`;
      const response = await doFetch(url, {
        method: "POST",
        headers,
        body: body as BodyInit,
        signal: AbortSignal.timeout(timeout),
      });
      const answer = await response.text();
      return [response.status, parseRetryAfter(response.headers.get("Retry-After")), answer];
    } catch {
      return [null, null, ""];
    }
  }

  /** Send what is queued now; true when everything was delivered (or given up on) in time. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (this.running === null) {
        if (this.timer !== null) {
          clearTimeout(this.timer);
          this.timer = null;
        }
        this.kick();
      }
      await new Promise<void>((resolve) => {
        // a ref'd timer: whoever awaits flush() asked to wait up to the timeout
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.pending() === 0;
  }

  /** Stop intake, drain for at most `timeoutMs`, count what is left as dropped. */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    this.stopDeadline = Date.now() + timeoutMs;
    if (this.sleeping !== null && this.sleeping.end > this.stopDeadline) {
      const sleep = this.sleeping;
      clearTimeout(sleep.timer);
      sleep.timer = setTimeout(sleep.resolve, Math.max(0, this.stopDeadline - Date.now()));
    }
    const ok = await this.flush(timeoutMs);
    const left = this.queue.length + this.ready.length;
    if (left) COUNTERS.drop("shutdown", left);
    this.queue = [];
    this.ready = [];
    if (this.timer !== null) clearTimeout(this.timer);
    return ok && left === 0;
  }
}

let shipper: Shipper | null = null;

export function getShipper(): Shipper {
  if (shipper === null) shipper = new Shipper();
  return shipper;
}

export function submit(call: Call): void {
  try {
    getShipper().submit(call);
  } catch (error) {
    report(error);
  }
}

export async function flush(timeoutMs = 5000): Promise<boolean> {
  try {
    return shipper === null ? true : await shipper.flush(timeoutMs);
  } catch (error) {
    report(error);
    return false;
  }
}

export async function shutdown(timeoutMs?: number): Promise<boolean> {
  const current = shipper;
  shipper = null;
  if (current === null) return true;
  try {
    return await current.shutdown(timeoutMs ?? settings().shutdownTimeout * 1000);
  } catch (error) {
    report(error);
    return false;
  }
}

export function stats(): Stats {
  return COUNTERS.snapshot(shipper === null ? 0 : shipper.pending());
}
