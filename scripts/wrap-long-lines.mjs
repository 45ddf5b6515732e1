#!/usr/bin/env node
// One-off maintenance: split string and template literals that stand alone on a line longer than
// the formatter's limit into `'a ' +\n  'b'` (the value is unchanged: the parts concatenate to the
// same text), and re-wrap `//` comment lines. The formatter (Biome) wraps code but never strings or
// comments. Usage: node scripts/wrap-long-lines.mjs FILE... ; prints how many lines it split.
import { readFileSync, writeFileSync } from 'node:fs';

const LIMIT = 140;

/** [start, end) of a string literal starting at `i` (quote q), or undefined if it does not close on this line. */
function literalEnd(line, i) {
  const q = line[i];
  let depth = 0;
  for (let j = i + 1; j < line.length; j++) {
    const c = line[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (q === '`' && c === '$' && line[j + 1] === '{') {
      depth++;
      j++;
      continue;
    }
    if (q === '`' && depth > 0) {
      if (c === '{') depth++;
      else if (c === '}') depth--;
      continue;
    }
    if (c === q) return j + 1;
  }
  return undefined;
}

/** Positions inside the literal body where a split keeps the value: after a space, outside `${}`, not after a backslash. */
function splitPoints(body, q) {
  const out = [];
  let depth = 0;
  for (let j = 0; j < body.length; j++) {
    const c = body[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (q === '`' && c === '$' && body[j + 1] === '{') {
      if (depth === 0 && j > 0) out.push(j); // before a substitution
      depth++;
      j++;
      continue;
    }
    if (q === '`' && depth > 0) {
      if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        if (depth === 0) out.push(j + 1); // after a substitution
      }
      continue;
    }
    if (c === ' ' && j > 0) out.push(j + 1);
  }
  return out;
}

function splitLine(line) {
  const indent = /^\s*/.exec(line)[0];
  // the line's last literal, ending the line but for , ) ; ] (or a test's callback); the code before it
  // must end where an expression starts (a call's parenthesis, an assignment, a property, return, ...)
  let call;
  let rest;
  let end;
  for (let i = indent.length; i < line.length; i++) {
    const c = line[i];
    if (c === '/' && line[i + 1] === '/') return undefined;
    if (c !== "'" && c !== '"' && c !== '`') continue;
    const e = literalEnd(line, i);
    if (e === undefined) return undefined;
    const after = line.slice(e);
    const prefix = line.slice(indent.length, i);
    const okTail = /^[,);\]\s]*$/.test(after) || /^, (async )?\([^)]*\) => \{$/.test(after);
    const okPrefix = prefix === '' || /(\(|\[|= |: |return |, |\? |\?\? |\|\| |&& |=> )$/.test(prefix);
    if (okTail && okPrefix) {
      call = prefix;
      rest = line.slice(i);
      end = e - i;
      break;
    }
    i = e - 1;
  }
  if (rest === undefined) return undefined;
  const tail = rest.slice(end);
  const q = rest[0];
  const body = rest.slice(1, end - 1);
  const points = splitPoints(body, q);
  const lines = [];
  let from = 0;
  let first = true;
  const pad = first ? indent : `${indent}  `;
  while (indent.length + 2 + 2 + (body.length - from) + (first ? tail.length : tail.length + 2) > LIMIT) {
    const room = LIMIT - indent.length - (first ? call.length : 2) - 4;
    const cands = points.filter((p) => p > from + 20 && p - from <= room);
    if (!cands.length) break;
    const cut = cands[cands.length - 1];
    lines.push(`${first ? `${indent}${call}` : `${indent}  `}${q}${body.slice(from, cut)}${q} +`);
    from = cut;
    first = false;
  }
  if (!lines.length) return undefined;
  lines.push(`${indent}  ${q}${body.slice(from)}${q}${tail}`);
  void pad;
  return lines;
}

function wrapComment(line) {
  const doc = /^(\s*)\/\*\* (.*) \*\/$/.exec(line);
  if (doc) {
    const inner = wrapComment(`${doc[1]} * ${doc[2]}`) ?? [`${doc[1]} * ${doc[2]}`];
    return [`${doc[1]}/**`, ...inner, `${doc[1]} */`];
  }
  const m = /^(\s*)(\/\/ |\* )(.*)$/.exec(line);
  if (!m) return undefined;
  const [, indent, mark, text] = m;
  const width = LIMIT - indent.length - mark.length;
  const words = text.split(' ');
  const out = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      out.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) out.push(cur);
  if (out.length < 2 || out.some((l) => l.length > width)) return undefined;
  return out.map((l) => `${indent}${mark}${l}`);
}

let total = 0;
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out = [];
  let changed = 0;
  for (const line of lines) {
    if (line.length <= LIMIT) {
      out.push(line);
      continue;
    }
    const parts = splitLine(line) ?? wrapComment(line);
    if (parts) {
      out.push(...parts);
      changed++;
    } else out.push(line);
  }
  if (changed) {
    writeFileSync(file, out.join('\n'));
    total += changed;
  }
}
console.log(`split ${total} long lines`);
