/** Marked blocks of a markdown file that bench/suite.ts rewrites: `<!-- bench:<id> -->` ... `<!-- /bench:<id> -->`. */

/** Replace (or append) the block of `id` in `text`. */
export function replaceBlock(text: string, id: string, body: string): string {
  const open = `<!-- bench:${id} -->`,
    close = `<!-- /bench:${id} -->`;
  const block = `${open}\n${body}\n${close}`;
  const a = text.indexOf(open),
    b = text.indexOf(close);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + close.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** The current body of `id`'s block, or undefined. */
export function blockOf(text: string, id: string): string | undefined {
  const open = `<!-- bench:${id} -->`,
    close = `<!-- /bench:${id} -->`;
  const a = text.indexOf(open),
    b = text.indexOf(close);
  return a >= 0 && b > a ? text.slice(a + open.length + 1, b - 1) : undefined;
}
