/**
 * Which events of a log become samples: by default every target-domain event is one impression
 * sample (its label is the click), optionally restricted to a time range (train/test splits by
 * time) and to a set of users. The result is an Int32Array of event positions in log order.
 */
import { type EventLog, TARGET } from '../event-log.ts';

/** Event positions (into the EventLog's columns) of the samples, ascending (user, then time order). */
export type SampleIndex = Int32Array;

export interface SampleIndexOptions {
  /** keep samples with timestamp >= from (inclusive) */
  readonly from?: number;
  /** keep samples with timestamp < to (exclusive), so [from, to) ranges that touch partition the log */
  readonly to?: number;
  /**
   * keep samples of these users only: a predicate (called once per user id) or a list of user ids.
   * The filter picks samples only: histories always come from all of a user's earlier events.
   */
  readonly users?: ((user: number) => boolean) | ArrayLike<number>;
}

export function buildSampleIndex(log: EventLog, opts: SampleIndexOptions = {}): SampleIndex {
  const from = opts.from ?? -Infinity,
    to = opts.to ?? Infinity;
  if (Number.isNaN(from)) throw new RangeError('buildSampleIndex: from must be a number, got NaN');
  if (Number.isNaN(to)) throw new RangeError('buildSampleIndex: to must be a number, got NaN');
  const users = log.meta.users;
  let keepUser: Uint8Array | undefined;
  const filter = opts.users;
  if (typeof filter === 'function') {
    keepUser = new Uint8Array(users);
    for (let u = 0; u < users; u++) keepUser[u] = filter(u) ? 1 : 0;
  } else if (filter !== undefined) {
    keepUser = new Uint8Array(users);
    for (let i = 0; i < filter.length; i++) {
      const u = filter[i]!;
      if (!Number.isInteger(u) || u < 0 || u >= users)
        throw new RangeError(`buildSampleIndex: users[${i}] must be a user id in 0..${users - 1}, got ${u}`);
      keepUser[u] = 1;
    }
  }
  const { domain, timestamp, userStart } = log;
  const keep = (i: number) => domain[i] === TARGET && timestamp[i]! >= from && timestamp[i]! < to;
  let count = 0;
  for (let u = 0; u < users; u++) {
    if (keepUser && !keepUser[u]) continue;
    for (let i = userStart[u]!, end = userStart[u + 1]!; i < end; i++) if (keep(i)) count++;
  }
  const out = new Int32Array(count);
  let k = 0;
  for (let u = 0; u < users; u++) {
    if (keepUser && !keepUser[u]) continue;
    for (let i = userStart[u]!, end = userStart[u + 1]!; i < end; i++) if (keep(i)) out[k++] = i;
  }
  return out;
}
