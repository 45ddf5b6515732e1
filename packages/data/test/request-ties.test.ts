/**
 * Issue 17, item 13: the request source (IFA) must not see events at exactly the request's
 * timestamp: "strictly before" is the contract (request-source.ts), and the generated worlds have no
 * such ties, so requests.test.ts could not tell `<` from `<=`. Here source events are moved onto
 * request times (the log stays time-ordered) before the requests are built.
 */
import { describe, expect, it } from 'vitest';
import { SOURCE, TARGET } from '../src/event-log.ts';
import { createRequestSource } from '../src/samples/request-source.ts';
import { SMALL_WORLD_CONFIG, generateWorld } from '../src/synthetic/index.ts';
import {
  REQUEST_CROSS_COLUMNS,
  crossBucket,
  generateRequest,
  generateRequests,
  historyEnd,
  requestContext,
} from '../src/synthetic/requests.ts';

const N = 8;

describe('request source: events at exactly the request time', () => {
  it('are left out of the sequence, the history count and the cross features', () => {
    const world = generateWorld({ ...SMALL_WORLD_CONFIG, users: 40 }, 11);
    const ctx = requestContext(world, { candidates: 6, requestsPerUser: 2, evalRequestsPerUser: 1 }, 3);
    const log = world.log,
      pos = ctx.sourcePositions;
    const rows = [0, 5, 17, 30];
    const ties = new Map<number, number[]>(); // request row -> log positions moved onto its time
    for (const r of rows) {
      // a request's time does not depend on the log: learn it first, then put the next two source events on it
      const q = generateRequest(ctx, 'train', r);
      const end = historyEnd(ctx, q.user, q.time);
      expect(end + 2).toBeLessThanOrEqual(ctx.userSourceFirst[q.user + 1]!); // two later source events exist
      const moved = [pos[end]!, pos[end + 1]!];
      // the log stays ordered: everything from the first moved event to the second is >= the time already
      for (let i = moved[0]!; i <= moved[1]!; i++) expect(log.timestamp[i]).toBeGreaterThanOrEqual(q.time);
      for (let i = moved[0]!; i <= moved[1]!; i++) log.timestamp[i] = q.time;
      // and a clicked target event on the same instant, for the cross feature
      for (let i = moved[0]!; i <= moved[1]!; i++) if (log.domain[i] === TARGET) log.label[i] = 1;
      ties.set(r, moved);
    }
    const set = generateRequests(ctx, 'train');
    const src = createRequestSource(set, { seqLen: N });
    const b = src.batch(Int32Array.from(rows)) as unknown as Record<string, { data: ArrayLike<number> }>;
    let tiedClicks = 0;
    const countTiedClicks = (u: number, t: number) => {
      let n = 0;
      for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++)
        if (log.domain[i] === TARGET && log.label[i] === 1 && log.timestamp[i] === t) n++;
      return n;
    };
    rows.forEach((r, row) => {
      const u = set.user[r]!,
        t = set.time[r]!;
      const at: number[] = [],
        before: number[] = [],
        upTo: number[] = [];
      for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) {
        if (log.domain[i] !== SOURCE) continue;
        if (log.timestamp[i] === t) at.push(i);
        if (log.timestamp[i]! < t) before.push(i);
        if (log.timestamp[i]! <= t) upTo.push(i);
      }
      expect(at).toEqual(ties.get(r)); // the ties are there
      const want = before.slice(-N);
      // a `<=` source would have put the tied events last: the test can tell the two apart
      expect(upTo.slice(-N)).not.toEqual(want);
      const seq = Array.from({ length: N }, (_, j) => b['seq']!.data[row * N + j]);
      expect(seq).toEqual(want.map((p) => log.item[p]! + 1));
      expect(Array.from({ length: N }, (_, j) => b['seqMask']!.data[row * N + j])).toEqual(Array(N).fill(1));
      expect(set.historyEnd[r]! - ctx.userSourceFirst[u]!).toBe(before.length);
      // cross column 1 counts the user's clicked target events strictly before t in the candidate's category
      const q = generateRequest(ctx, 'train', r);
      for (let k = 0; k < q.items.length; k++) {
        let clicked = 0;
        for (let i = log.userStart[u]!; i < log.userStart[u + 1]!; i++) {
          if (log.domain[i] === TARGET && log.label[i] === 1 && log.timestamp[i]! < t && log.category[i] === q.categories[k]) clicked++;
        }
        expect(set.cross[(r * set.candidates + k) * REQUEST_CROSS_COLUMNS + 1]).toBe(crossBucket(clicked, ctx.config.crossBuckets));
      }
      tiedClicks += countTiedClicks(u, t);
    });
    expect(tiedClicks).toBeGreaterThan(0); // the cross check above did meet clicks on the request's instant
  });
});
