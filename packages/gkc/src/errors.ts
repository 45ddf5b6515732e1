/** Every error this package throws on bad input or a caller bug: it names the thing, the expected and the actual. */
export class GkcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GkcError';
  }
}
