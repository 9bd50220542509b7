/** The SDK's own counters: what was sent, retried and dropped (and why). */

export interface Stats {
  /** Events the ingest accepted (duplicates of an already stored event included). */
  sent: number;
  /** Of `sent`: events the ingest already had (a retry after a lost answer). */
  duplicates: number;
  /** Batch sends that were retried (one per retry attempt). */
  retried: number;
  /** Events given up on, by reason (`queue_full`, `rejected`, `retries_exhausted`, …). */
  dropped: Record<string, number>;
  droppedTotal: number;
  /** Events waiting to be sent right now. */
  queued: number;
  /** Batches the ingest answered 202 to. */
  batches: number;
  /** Errors inside the SDK itself (logged and swallowed; the provider call is untouched). */
  internalErrors: number;
}

export const COUNTERS = {
  sent: 0,
  duplicates: 0,
  retried: 0,
  batches: 0,
  internalErrors: 0,
  dropped: {} as Record<string, number>,
  drop(reason: string, n = 1): void {
    if (n > 0) this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
  },
  snapshot(queued: number): Stats {
    const dropped = { ...this.dropped };
    return {
      sent: this.sent,
      duplicates: this.duplicates,
      retried: this.retried,
      dropped,
      droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
      queued,
      batches: this.batches,
      internalErrors: this.internalErrors,
    };
  },
};
