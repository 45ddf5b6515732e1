/**
 * Bounded concurrency for scoring runs: at most `maxInflight` runs at once, at most `maxQueue`
 * waiting (first come, first served); beyond that a request is turned away (BusyError -> 503)
 * instead of piling up parsed tensors without bound.
 */
export class BusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusyError';
  }
}

export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxInflight: number,
    readonly maxQueue: number,
  ) {
    if (!Number.isInteger(maxInflight) || maxInflight < 1) throw new RangeError(`maxInflight must be an integer >= 1, got ${maxInflight}`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be an integer >= 0, got ${maxQueue}`);
  }

  get inflight(): number {
    return this.active;
  }
  get queued(): number {
    return this.waiting.length;
  }
  /** true when a new run would be refused: lets the server answer 503 before reading a body */
  get full(): boolean {
    return this.active >= this.maxInflight && this.waiting.length >= this.maxQueue;
  }

  /** The BusyError a refused run gets. */
  busyError(): BusyError {
    return new BusyError(
      `server busy: ${this.active} run(s) in flight and ${this.waiting.length} queued (--max-inflight ${this.maxInflight}, --max-queue ` +
        `${this.maxQueue})`,
    );
  }

  /** Run `fn` when a slot is free; throws BusyError at once when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxInflight) {
      if (this.waiting.length >= this.maxQueue) throw this.busyError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      // hand the slot straight to the next waiter (active stays), else free it
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
