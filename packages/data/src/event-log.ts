/**
 * The columnar event log every reader writes and every sample builder reads: one typed array per
 * field (never an array of objects), events grouped by user and ordered by (timestamp, arrival
 * order) within a user, so "strictly before" is well defined even when timestamps tie.
 */

/** Domain of an item: target (the sparse domain we predict in) or source (the rich behaviour domain). */
export const TARGET = 0;
export const SOURCE = 1;
export type Domain = typeof TARGET | typeof SOURCE;

/** A categorical context feature of an event (watch-duration bucket, behaviour type, ...): ids 0..cardinality-1. */
export interface ContextSpec {
  readonly name: string;
  readonly cardinality: number;
}

export interface EventLogMeta {
  /** user ids are 0..users-1 */
  readonly users: number;
  /** item ids are per domain: 0..items.target-1 and 0..items.source-1 (separate embedding tables) */
  readonly items: { readonly target: number; readonly source: number };
  readonly categories: number;
  readonly context: readonly ContextSpec[];
  /** categorical user profile features (age bucket, gender, ...), one value per user */
  readonly profile: readonly ContextSpec[];
}

export interface EventLog {
  readonly meta: EventLogMeta;
  readonly size: number;
  readonly user: Int32Array;
  readonly item: Int32Array;
  readonly category: Int32Array;
  readonly domain: Uint8Array;
  /** seconds (float64 holds epoch milliseconds exactly too) */
  readonly timestamp: Float64Array;
  /** 0/1 (click, positive rating, conversion ...) */
  readonly label: Uint8Array;
  /** one column per meta.context entry */
  readonly context: readonly Int32Array[];
  /** user u's events are positions userStart[u] .. userStart[u + 1] - 1, in time order */
  readonly userStart: Int32Array;
  /** one column per meta.profile entry, indexed by user (0 where never set) */
  readonly profile: readonly Int32Array[];
}

export interface EventInput {
  user: number;
  item: number;
  category: number;
  domain: Domain;
  timestamp: number;
  label: number;
  context?: readonly number[];
}

export class EventLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventLogError';
  }
}

/** Appends events into growable typed columns; `finish()` sorts them into an EventLog. */
export class EventLogBuilder {
  private n = 0;
  private cap: number;
  private user: Int32Array;
  private item: Int32Array;
  private category: Int32Array;
  private domain: Uint8Array;
  private timestamp: Float64Array;
  private label: Uint8Array;
  private context: Int32Array[];
  private readonly profile: Int32Array[];

  constructor(
    readonly meta: EventLogMeta,
    initialCapacity = 1024,
  ) {
    this.profile = meta.profile.map(() => new Int32Array(meta.users));
    this.cap = Math.max(16, initialCapacity);
    this.user = new Int32Array(this.cap);
    this.item = new Int32Array(this.cap);
    this.category = new Int32Array(this.cap);
    this.domain = new Uint8Array(this.cap);
    this.timestamp = new Float64Array(this.cap);
    this.label = new Uint8Array(this.cap);
    this.context = meta.context.map(() => new Int32Array(this.cap));
  }

  get size(): number {
    return this.n;
  }

  private grow(): void {
    this.cap *= 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a);
      return b;
    };
    this.user = g(this.user);
    this.item = g(this.item);
    this.category = g(this.category);
    this.domain = g(this.domain);
    this.timestamp = g(this.timestamp);
    this.label = g(this.label);
    this.context = this.context.map(g);
  }

  /** Add one event; `where` names it in errors (e.g. 'ratings.csv:17'). */
  push(e: EventInput, where = `event ${this.n}`): void {
    const m = this.meta;
    const int = (v: number, field: string, bound: number) => {
      if (!Number.isInteger(v) || v < 0 || v >= bound)
        throw new EventLogError(`${where}: ${field} must be an integer in 0..${bound - 1}, got ${v}`);
    };
    int(e.user, 'user', m.users);
    if (e.domain !== TARGET && e.domain !== SOURCE)
      throw new EventLogError(`${where}: domain must be 0 (target) or 1 (source), got ${String(e.domain)}`);
    int(e.item, `item (${e.domain === TARGET ? 'target' : 'source'} domain)`, e.domain === TARGET ? m.items.target : m.items.source);
    int(e.category, 'category', m.categories);
    if (!Number.isFinite(e.timestamp)) throw new EventLogError(`${where}: timestamp must be a finite number, got ${e.timestamp}`);
    if (e.label !== 0 && e.label !== 1) throw new EventLogError(`${where}: label must be 0 or 1, got ${e.label}`);
    const ctx = e.context ?? [];
    if (ctx.length !== m.context.length)
      throw new EventLogError(
        `${where}: expected ${m.context.length} context value(s) (${m.context.map((c) => c.name).join(', ')}), got ${ctx.length}`,
      );
    m.context.forEach((c, k) => int(ctx[k]!, `context '${c.name}'`, c.cardinality));
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.user[i] = e.user;
    this.item[i] = e.item;
    this.category[i] = e.category;
    this.domain[i] = e.domain;
    this.timestamp[i] = e.timestamp;
    this.label[i] = e.label;
    for (let k = 0; k < ctx.length; k++) this.context[k]![i] = ctx[k]!;
  }

  /** Set a user's profile features (one value per meta.profile entry). */
  setProfile(user: number, values: readonly number[], where = `profile of user ${user}`): void {
    const m = this.meta;
    if (!Number.isInteger(user) || user < 0 || user >= m.users)
      throw new EventLogError(`${where}: user must be an integer in 0..${m.users - 1}, got ${user}`);
    if (values.length !== m.profile.length)
      throw new EventLogError(
        `${where}: expected ${m.profile.length} profile value(s) (${m.profile.map((c) => c.name).join(', ')}), got ${values.length}`,
      );
    m.profile.forEach((c, k) => {
      const v = values[k]!;
      if (!Number.isInteger(v) || v < 0 || v >= c.cardinality)
        throw new EventLogError(`${where}: profile '${c.name}' must be an integer in 0..${c.cardinality - 1}, got ${v}`);
      this.profile[k]![user] = v;
    });
  }

  /** Group by user (counting sort), then stable-sort each user's events by timestamp (ties keep arrival order). */
  finish(): EventLog {
    const n = this.n,
      users = this.meta.users;
    const userStart = new Int32Array(users + 1);
    for (let i = 0; i < n; i++) userStart[this.user[i]! + 1]!++;
    for (let u = 0; u < users; u++) userStart[u + 1]! += userStart[u]!;
    const order = new Int32Array(n);
    const fill = userStart.slice(0, users);
    for (let i = 0; i < n; i++) order[fill[this.user[i]!]!++] = i;
    const ts = this.timestamp;
    for (let u = 0; u < users; u++) {
      const a = userStart[u]!,
        b = userStart[u + 1]!;
      let sorted = true;
      for (let i = a + 1; i < b && sorted; i++) if (ts[order[i]!]! < ts[order[i - 1]!]!) sorted = false;
      if (!sorted) order.subarray(a, b).set(Array.from(order.subarray(a, b)).sort((p, q) => ts[p]! - ts[q]! || p - q));
    }
    const take = <T extends Int32Array | Uint8Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      for (let i = 0; i < n; i++) b[i] = a[order[i]!]!;
      return b;
    };
    return {
      meta: this.meta,
      size: n,
      user: take(this.user),
      item: take(this.item),
      category: take(this.category),
      domain: take(this.domain),
      timestamp: take(this.timestamp),
      label: take(this.label),
      context: this.context.map(take),
      userStart,
      profile: this.profile.map((c) => c.slice()),
    };
  }
}
