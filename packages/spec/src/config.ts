/**
 * The one way configs are validated (training configs, model sections, data sections, dataset
 * configs): field rules that both check a parsed JSON value and describe it, so the error
 * messages and the published JSON Schema come from the same table. Every problem names the
 * source file and the key path, what was expected and what was found; unknown keys are errors
 * (a misspelt key must not silently fall back to a default).
 */

export class ConfigError extends Error {
  /** one line per problem, each starting with the source and the key path */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** What a field accepts, as the error messages phrase it. */
export type FieldRule =
  | { readonly kind: 'int'; readonly min: number; readonly max?: number }
  | { readonly kind: 'number'; readonly gt?: number; readonly min?: number; readonly lt?: number }
  | { readonly kind: 'object' }
  /** a non-empty array of integers >= min (`empty`: an empty array too) */
  | { readonly kind: 'ints'; readonly min: number; readonly empty?: true }
  /** one of the listed strings */
  | { readonly kind: 'string'; readonly oneOf: readonly string[] }
  /** a non-empty array of distinct listed strings */
  | { readonly kind: 'strings'; readonly oneOf: readonly string[] }
  /** any string (a path, a name) */
  | { readonly kind: 'text' }
  /** a non-empty array of non-empty strings (file names, raw values; `empty`: an empty array too) */
  | { readonly kind: 'texts'; readonly empty?: true }
  /** a non-empty array of finite numbers, strictly ascending (bucket boundaries) */
  | { readonly kind: 'ascending' }
  | { readonly kind: 'bool' };

type Rule = FieldRule;

/** A value as error messages show it: JSON, cut to 60 characters, with its JSON type when that is the problem. */
export function showValue(v: unknown): string {
  const kind =
    v === null
      ? 'null'
      : Array.isArray(v)
        ? 'an array'
        : typeof v === 'object'
          ? 'an object'
          : typeof v === 'string'
            ? 'a string'
            : typeof v === 'boolean'
              ? 'a boolean'
              : typeof v;
  const text = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return kind === 'number' || kind === 'undefined' || kind === 'null' ? cut : `${cut} (${kind})`;
}

export function describeRule(r: Rule): string {
  if (r.kind === 'object') return 'an object';
  if (r.kind === 'string') return `one of ${r.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
  if (r.kind === 'strings') return `a non-empty array of distinct values from ${r.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
  if (r.kind === 'text') return 'a string';
  if (r.kind === 'texts') return `${r.empty ? 'an' : 'a non-empty'} array of non-empty strings`;
  if (r.kind === 'ascending') return 'a non-empty array of strictly ascending numbers';
  if (r.kind === 'bool') return 'true or false';
  if (r.kind === 'ints') return `${r.empty ? 'an' : 'a non-empty'} array of integers >= ${r.min}`;
  if (r.kind === 'int') return r.max !== undefined ? `an integer in [${r.min}, ${r.max}]` : `an integer >= ${r.min}`;
  const parts: string[] = [];
  if (r.gt !== undefined) parts.push(`> ${r.gt}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.lt !== undefined) parts.push(`< ${r.lt}`);
  return `a number ${parts.join(' and ')}`.trimEnd();
}

export function fits(r: Rule, v: unknown): boolean {
  if (r.kind === 'object') return v !== null && typeof v === 'object' && !Array.isArray(v);
  if (r.kind === 'string') return typeof v === 'string' && r.oneOf.includes(v);
  if (r.kind === 'strings')
    return Array.isArray(v) && v.length > 0 && new Set(v).size === v.length && v.every((x) => typeof x === 'string' && r.oneOf.includes(x));
  if (r.kind === 'text') return typeof v === 'string' && v.length > 0;
  if (r.kind === 'texts')
    return Array.isArray(v) && (v.length > 0 || r.empty === true) && v.every((x) => typeof x === 'string' && x.length > 0);
  if (r.kind === 'ascending')
    return (
      Array.isArray(v) &&
      v.length > 0 &&
      v.every((x, i) => typeof x === 'number' && Number.isFinite(x) && (i === 0 || x > (v[i - 1] as number)))
    );
  if (r.kind === 'bool') return typeof v === 'boolean';
  if (r.kind === 'ints')
    return Array.isArray(v) && (v.length > 0 || r.empty === true) && v.every((x) => Number.isInteger(x) && (x as number) >= r.min);
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (r.kind === 'int') return Number.isInteger(v) && v >= r.min && (r.max === undefined || v <= r.max);
  return (r.gt === undefined || v > r.gt) && (r.min === undefined || v >= r.min) && (r.lt === undefined || v < r.lt);
}

/** Keys of `obj` that `known` lacks, as problems ("unknown key, expected one of ..."). */
export function unknownKeys(obj: Readonly<Record<string, unknown>>, known: readonly string[], path: string, source: string): string[] {
  return Object.keys(obj)
    .filter((k) => !known.includes(k))
    .map((k) => `${source}: ${path}.${k}: unknown key (expected one of ${known.join(', ')})`);
}

/** JSON text to a value; a syntax error names the file, line and column. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos).split('\n');
      where = `:${before.length}:${before[before.length - 1]!.length + 1}`;
    }
    throw new ConfigError([`${source}${where}: not valid JSON (${msg})`]);
  }
}

/**
 * Check a free-form config section (`config.model`, `config.data`) against field rules and fill
 * in defaults: unknown keys and bad values are ConfigErrors naming `path.key`.
 */
export function checkSection<T extends Record<string, unknown>>(
  obj: Readonly<Record<string, unknown>>,
  rules: { readonly [K in keyof T]: FieldRule },
  defaults: T,
  path: string,
  source = 'config',
): T {
  const problems = unknownKeys(obj, Object.keys(rules), path, source);
  for (const [k, rule] of Object.entries(rules) as Array<[string, FieldRule]>) {
    if (k in obj && !fits(rule, obj[k])) problems.push(`${source}: ${path}.${k}: expected ${describeRule(rule)}, got ${showValue(obj[k])}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { ...defaults, ...obj } as T;
}

/** A JSON Schema (draft 2020-12) fragment for one field rule. */
export function ruleToJsonSchema(r: FieldRule, description?: string): Record<string, unknown> {
  const d = description === undefined ? {} : { description };
  switch (r.kind) {
    case 'int':
      return { type: 'integer', minimum: r.min, ...(r.max !== undefined ? { maximum: r.max } : {}), ...d };
    case 'number':
      return {
        type: 'number',
        ...(r.gt !== undefined ? { exclusiveMinimum: r.gt } : {}),
        ...(r.min !== undefined ? { minimum: r.min } : {}),
        ...(r.lt !== undefined ? { exclusiveMaximum: r.lt } : {}),
        ...d,
      };
    case 'object':
      return { type: 'object', ...d };
    case 'ints':
      return { type: 'array', ...(r.empty ? {} : { minItems: 1 }), items: { type: 'integer', minimum: r.min }, ...d };
    case 'string':
      return { enum: [...r.oneOf], ...d };
    case 'strings':
      return { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...r.oneOf] }, ...d };
    case 'text':
      return { type: 'string', minLength: 1, ...d };
    case 'texts':
      return { type: 'array', ...(r.empty ? {} : { minItems: 1 }), items: { type: 'string', minLength: 1 }, ...d };
    case 'ascending':
      return { type: 'array', minItems: 1, items: { type: 'number' }, ...d };
    case 'bool':
      return { type: 'boolean', ...d };
  }
}

/** A JSON Schema object for a rule table: its properties, the required keys, no other keys. */
export function rulesToJsonSchema(
  rules: Readonly<Record<string, FieldRule>>,
  opts: {
    required?: readonly string[];
    descriptions?: Readonly<Record<string, string>>;
    nested?: Readonly<Record<string, Record<string, unknown>>>;
  } = {},
): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [k, r] of Object.entries(rules)) properties[k] = opts.nested?.[k] ?? ruleToJsonSchema(r, opts.descriptions?.[k]);
  return { type: 'object', properties, ...(opts.required?.length ? { required: [...opts.required] } : {}), additionalProperties: false };
}

/**
 * A rule table without some of its keys, in the table's order (the trainer's model section is the model's table less what the data sets).
 */
export function withoutKeys(rules: Readonly<Record<string, FieldRule>>, keys: readonly string[]): Record<string, FieldRule> {
  return Object.fromEntries(Object.entries(rules).filter(([k]) => !keys.includes(k)));
}

// ---------------------------------------------------------------- the model builders' wording

const quoted = (xs: readonly string[]) => (xs.length === 2 ? `'${xs[0]}' or '${xs[1]}'` : `one of ${xs.map((x) => `'${x}'`).join(', ')}`);

/**
 * A rule as spec's model builders phrase it (`lifelong config: lifelongLen must be a positive
 * integer, got 0`): programmatic callers read these, the training CLI words the same rule with
 * describeRule. One table, two phrasings.
 */
export function mustBe(r: FieldRule): string {
  switch (r.kind) {
    case 'int':
      if (r.max !== undefined) return `an integer in [${r.min}, ${r.max}]`;
      return r.min === 1 ? 'a positive integer' : r.min === 0 ? 'a non-negative integer' : `an integer >= ${r.min}`;
    case 'number': {
      const parts = [
        r.gt !== undefined ? `> ${r.gt}` : '',
        r.min !== undefined ? `>= ${r.min}` : '',
        r.lt !== undefined ? `< ${r.lt}` : '',
      ].filter((p) => p);
      return `a finite number${parts.length ? ` ${parts.join(' and ')}` : ''}`;
    }
    case 'ints':
      return `a${r.empty ? 'n' : ' non-empty'} array of ${r.min === 1 ? 'positive integers' : `integers >= ${r.min}`}`;
    case 'string':
      return quoted(r.oneOf);
    case 'bool':
      return 'true or false';
    default:
      return describeRule(r);
  }
}

/**
 * Check a model config's fields against its rule table, in table order, the way spec's builders
 * report: the first problem throws `Error('<model> config: <prefix><key> must be ..., got <JSON>')`;
 * arrays name the element (`hidden[1]`). `optional` keys may be absent (undefined; LAP's k1 and
 * k2, TWIN's outDim), `skip` keys are not checked (fields another field switches off, e.g.
 * `categories` when categoryDim is 0); unknown keys are the caller's (each builder words them its
 * own way).
 */
export function checkModelFields(
  model: string,
  c: Readonly<Record<string, unknown>>,
  rules: Readonly<Record<string, FieldRule>>,
  opts: { prefix?: string; skip?: readonly string[]; optional?: readonly string[] } = {},
): void {
  const say = (field: string, text: string): never => {
    throw new Error(`${model} config: ${opts.prefix ?? ''}${field} ${text}`);
  };
  const fail = (field: string, expected: string, got: unknown): never => say(field, `must be ${expected}, got ${JSON.stringify(got)}`);
  for (const [k, r] of Object.entries(rules)) {
    const v = c[k];
    if ((v === undefined && opts.optional?.includes(k)) || opts.skip?.includes(k) || fits(r, v)) continue;
    if (r.kind === 'ints' && Array.isArray(v) && (v.length > 0 || r.empty)) {
      const element: FieldRule = { kind: 'int', min: r.min };
      v.forEach((x, i) => {
        if (!fits(element, x)) fail(`${k}[${i}]`, mustBe(element), x);
      });
    }
    if (r.kind === 'strings') {
      if (!Array.isArray(v) || v.length === 0)
        say(k, `must list at least one of ${r.oneOf.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(v)}`);
      (v as unknown[]).forEach((x, i) => {
        if (typeof x !== 'string' || !r.oneOf.includes(x)) fail(`${k}[${i}]`, quoted(r.oneOf), x);
        if ((v as unknown[]).indexOf(x) !== i) say(k, `lists '${String(x)}' twice`);
      });
    }
    fail(k, mustBe(r), v);
  }
}

// ---------------------------------------------------------------- checking a value against an emitted schema

type JsonSchema = Readonly<Record<string, unknown>>;
/**
 * The keywords ruleToJsonSchema and rulesToJsonSchema emit; jsonSchemaProblems refuses any other, so it never passes what it does not read.
 */
const SCHEMA_KEYWORDS = [
  '$schema',
  'title',
  'description',
  'type',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'minItems',
  'uniqueItems',
  'items',
  'properties',
  'required',
  'additionalProperties',
  'anyOf',
];

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/**
 * The problems of a JSON value against a schema of the subset this project emits (types, enum,
 * bounds, exclusive bounds, minLength, minItems, uniqueItems, items, properties, required,
 * additionalProperties false or a schema, anyOf), one line each naming the path (`$.model.dim`). Not a
 * general JSON Schema validator: an unknown keyword is an error, not ignored.
 */
export function jsonSchemaProblems(schema: JsonSchema, v: unknown, path = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !SCHEMA_KEYWORDS.includes(k));
  if (unknown.length) throw new Error(`jsonSchemaProblems: ${path}: unsupported keyword(s) ${unknown.join(', ')}`);
  const out: string[] = [];
  const bad = (what: string) => out.push(`${path}: ${what}, got ${showValue(v)}`);
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => jsonSchemaProblems(s as JsonSchema, v, path).length === 0)) {
    bad(`expected ${schema.anyOf.map((s) => JSON.stringify(s)).join(' or ')}`);
  }
  const t = jsonType(v);
  if (schema.type !== undefined && !(schema.type === t || (schema.type === 'number' && t === 'integer'))) {
    bad(`expected type ${String(schema.type)}`);
    return out;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === v))
    bad(`expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof v === 'number') {
    const n = (k: string) => schema[k] as number | undefined;
    if (n('minimum') !== undefined && !(v >= n('minimum')!)) bad(`expected >= ${n('minimum')}`);
    if (n('maximum') !== undefined && !(v <= n('maximum')!)) bad(`expected <= ${n('maximum')}`);
    if (n('exclusiveMinimum') !== undefined && !(v > n('exclusiveMinimum')!)) bad(`expected > ${n('exclusiveMinimum')}`);
    if (n('exclusiveMaximum') !== undefined && !(v < n('exclusiveMaximum')!)) bad(`expected < ${n('exclusiveMaximum')}`);
  }
  if (typeof v === 'string' && typeof schema.minLength === 'number' && v.length < schema.minLength)
    bad(`expected at least ${schema.minLength} characters`);
  if (Array.isArray(v)) {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems) bad(`expected at least ${schema.minItems} items`);
    if (schema.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) bad('expected distinct items');
    if (schema.items !== undefined) v.forEach((x, i) => out.push(...jsonSchemaProblems(schema.items as JsonSchema, x, `${path}[${i}]`)));
  }
  if (t === 'object') {
    const o = v as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const k of (schema.required ?? []) as string[]) if (!(k in o)) out.push(`${path}.${k}: missing (required)`);
    for (const [k, x] of Object.entries(o)) {
      if (k in props) out.push(...jsonSchemaProblems(props[k]!, x, `${path}.${k}`));
      else if (schema.additionalProperties === false)
        out.push(`${path}.${k}: not allowed (additionalProperties false; expected one of ${Object.keys(props).join(', ')})`);
      else if (typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null)
        out.push(...jsonSchemaProblems(schema.additionalProperties as JsonSchema, x, `${path}.${k}`));
    }
  }
  return out;
}
