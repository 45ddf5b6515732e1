/**
 * Duplicate keys in a JSON text. JSON.parse keeps the last of two equal keys, and a reviver only
 * sees the survivor, so `{"user": {...}, "user": {...}}` would score the second user silently.
 * No JSON parser already installed reports duplicates as an error (jsonc-parser, pulled in by
 * Nx, could with its visitor, but it is not a dependency of the server and accepts comments and
 * trailing commas), so this is a small scanner over the text that JSON.parse has ALREADY accepted:
 * it only tracks strings, brackets and commas, never validates. One pass: on a 1.4 MB body it
 * took 19-26 ms/MB against JSON.parse's 11-19 ms/MB (busy 2-core machine), so about 0.2 ms for the
 * default LCN's 10 KiB request; a regex scan for the structural characters was no faster.
 */
import { RequestError } from '@lctr/spec';

interface ObjectFrame {
  readonly object: true;
  readonly path: string;
  readonly keys: Set<string>;
  key: string;
}
interface ArrayFrame {
  readonly object: false;
  readonly path: string;
  index: number;
}
type Frame = ObjectFrame | ArrayFrame;

const QUOTE = 34,
  BACKSLASH = 92,
  LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COMMA = 44,
  COLON = 58;

/** The JSON path of the value a frame is about to hold ('' at the top: the body itself). */
function childPath(top: Frame | undefined): string {
  if (!top) return '';
  if (top.object) return top.path ? `${top.path}.${top.key}` : top.key;
  return `${top.path}[${top.index}]`;
}

/**
 * Throws a RequestError (400) naming the first key that appears twice in one object, with its JSON
 * path (`user.lifelongSeq`, `candidates[1].candidate`). `text` must be valid JSON.
 */
export function checkDuplicateKeys(text: string): void {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // the closing quote is the first one not escaped by an odd run of backslashes
      let end = i + 1;
      for (;;) {
        end = text.indexOf('"', end);
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        end++;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top?.object) {
        // "\u0061" and "a" are the same key: decode only when there is an escape
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        top.key = key;
        if (top.keys.has(key)) throw new RequestError(childPath(top), 'each key at most once in an object', `a duplicate key '${key}'`);
        top.keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === LBRACE) {
      stack.push({ object: true, path: childPath(stack[stack.length - 1]), keys: new Set(), key: '' });
      expectKey = true;
    } else if (c === LBRACKET) {
      stack.push({ object: false, path: childPath(stack[stack.length - 1]), index: 0 });
    } else if (c === RBRACE || c === RBRACKET) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      const top = stack[stack.length - 1]!;
      if (top.object) expectKey = true;
      else top.index++;
    } else if (c === COLON) {
      expectKey = false;
    }
  }
}
