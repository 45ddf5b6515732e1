/** The exporter's error: its message names the thing, what was expected and what was found. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}
