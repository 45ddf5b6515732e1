/**
 * The one config-validation mechanism (config.ts): the builders' wording of a rule table, table helpers, the JSON Schema checker; the model
 * tables.
 */
import { describe, expect, it } from 'vitest';
import {
  type FieldRule,
  BASELINE_RULES,
  IFA_RULES,
  KEEP_RULES,
  LIFELONG_RULES,
  checkModelFields,
  describeRule,
  fits,
  ifaConfig,
  jsonSchemaProblems,
  keepConfig,
  lifelongConfig,
  mustBe,
  ruleToJsonSchema,
  rulesToJsonSchema,
  withoutKeys,
} from '../src/index.ts';

const err = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe("the builders' wording of a rule", () => {
  it('phrases each kind as the model builders always have', () => {
    const cases: Array<[FieldRule, string]> = [
      [{ kind: 'int', min: 1 }, 'a positive integer'],
      [{ kind: 'int', min: 0 }, 'a non-negative integer'],
      [{ kind: 'int', min: 2 }, 'an integer >= 2'],
      [{ kind: 'int', min: 0, max: 9 }, 'an integer in [0, 9]'],
      [{ kind: 'number', min: 0 }, 'a finite number >= 0'],
      [{ kind: 'number', gt: 0, lt: 1 }, 'a finite number > 0 and < 1'],
      [{ kind: 'number' }, 'a finite number'],
      [{ kind: 'ints', min: 1 }, 'a non-empty array of positive integers'],
      [{ kind: 'ints', min: 1, empty: true }, 'an array of positive integers'],
      [{ kind: 'string', oneOf: ['item', 'category'] }, "'item' or 'category'"],
      [{ kind: 'string', oneOf: ['a', 'b', 'c'] }, "one of 'a', 'b', 'c'"],
      [{ kind: 'bool' }, 'true or false'],
    ];
    expect(cases.map(([r]) => mustBe(r))).toEqual(cases.map(([, s]) => s));
  });

  it('checkModelFields: first problem in table order, array elements by index, optional and skipped keys', () => {
    const rules = {
      n: { kind: 'int', min: 1 },
      sizes: { kind: 'ints', min: 1, empty: true },
      seq: { kind: 'strings', oneOf: ['target', 'source'] },
      k: { kind: 'int', min: 0 },
    } as const;
    const ok = { n: 1, sizes: [], seq: ['target'], k: 0 };
    expect(err(() => checkModelFields('m', ok, rules))).toBe('no error');
    expect(err(() => checkModelFields('m', { ...ok, n: 0, sizes: 3 }, rules))).toBe('m config: n must be a positive integer, got 0');
    expect(err(() => checkModelFields('m', { ...ok, sizes: [2, 0] }, rules))).toBe('m config: sizes[1] must be a positive integer, got 0');
    expect(err(() => checkModelFields('m', { ...ok, sizes: 4 }, rules, { prefix: 'sec.' }))).toBe(
      'm config: sec.sizes must be an array of positive integers, got 4',
    );
    expect(err(() => checkModelFields('m', { ...ok, seq: [] }, rules))).toBe(
      "m config: seq must list at least one of 'target', 'source', got []",
    );
    expect(err(() => checkModelFields('m', { ...ok, seq: ['source', 'x'] }, rules))).toBe(
      "m config: seq[1] must be 'target' or 'source', got \"x\"",
    );
    expect(err(() => checkModelFields('m', { ...ok, seq: ['source', 'source'] }, rules))).toBe("m config: seq lists 'source' twice");
    expect(err(() => checkModelFields('m', { ...ok, k: undefined }, rules))).toBe(
      'm config: k must be a non-negative integer, got undefined',
    );
    expect(err(() => checkModelFields('m', { ...ok, k: undefined }, rules, { optional: ['k'] }))).toBe('no error');
    expect(err(() => checkModelFields('m', { ...ok, k: -1 }, rules, { skip: ['k'] }))).toBe('no error');
  });

  it("`empty` lets an array be empty in every reading of the rule: the trainer's wording, the check, the schema", () => {
    const r: FieldRule = { kind: 'ints', min: 1, empty: true };
    expect([describeRule(r), fits(r, []), fits({ kind: 'ints', min: 1 }, [])]).toEqual(['an array of integers >= 1', true, false]);
    expect(ruleToJsonSchema(r)).toEqual({ type: 'array', items: { type: 'integer', minimum: 1 } });
    expect(ruleToJsonSchema({ kind: 'texts', empty: true })).toEqual({ type: 'array', items: { type: 'string', minLength: 1 } });
  });

  it('withoutKeys keeps the order (error messages list keys in it)', () => {
    expect(Object.keys(withoutKeys(BASELINE_RULES, ['users', 'profile', 'l2']))).toEqual([
      'dim',
      'categoryDim',
      'seqLen',
      'sourceSeqLen',
      'sequences',
      'targetItems',
      'sourceItems',
      'categories',
      'hidden',
    ]);
  });
});

describe('the model builders check with their tables', () => {
  const sizes = { targetItems: 30, sourceItems: 40, categories: 6, profile: [3] };
  it('lifelongConfig checks every section key the table declares (before: only auxWeight, crp.lambda and its booleans)', () => {
    expect(err(() => lifelongConfig({ ...sizes, lap: { heads: 0 } as never }))).toBe(
      'lifelong config: lap.heads must be a positive integer, got 0',
    );
    expect(err(() => lifelongConfig({ ...sizes, lap: { fsaPool: 'max' } as never }))).toBe(
      "lifelong config: lap.fsaPool must be 'mean' or 'sumThenFfn', got \"max\"",
    );
    expect(err(() => lifelongConfig({ ...sizes, twin: { k: 0 } as never }))).toBe(
      'lifelong config: twin.k must be a positive integer, got 0',
    );
    expect(err(() => lifelongConfig({ ...sizes, crp: { temperature: 0 } as never }))).toBe(
      'lifelong config: crp.temperature must be a finite number > 0, got 0',
    );
    expect(err(() => lifelongConfig({ ...sizes, crp: { weights: { pc: -1 } } as never }))).toBe(
      'lifelong config: crp.weights.pc must be a finite number >= 0, got -1',
    );
    // cross-field rules stay as code next to the table
    expect(err(() => lifelongConfig({ ...sizes, crp: { lambda: 0, negatives: 0 } as never }))).toBe('no error');
    expect(err(() => lifelongConfig({ ...sizes, context: [], contextDim: 0, module: 'simSoft' }))).toBe('no error');
  });

  it('ifa and keep word the same tables the same way', () => {
    expect(err(() => ifaConfig({ towers: [] }))).toBe('no error');
    expect(err(() => ifaConfig({ objectives: 'like' as never }))).toBe(
      'ifa config: objectives must be an array of non-empty strings, got "like"',
    );
    expect(err(() => keepConfig({ attention: [] }))).toBe('no error');
    expect(err(() => keepConfig({ userDim: undefined }))).toBe('keep config: userDim must be a positive integer, got undefined');
  });

  it('every table declares exactly the keys of its defaults, in their order', () => {
    expect(Object.keys(IFA_RULES)).toEqual([
      'users',
      'targetItems',
      'sourceItems',
      'categories',
      'profile',
      'cross',
      'context',
      'candidates',
      'seqLen',
      'dim',
      'categoryDim',
      'crossDim',
      'contextDim',
      'attnDim',
      'kernel',
      'eps',
      'towers',
      'module',
      'fullSequence',
      'shortLen',
      'relationAware',
      'objectives',
      'simSoft',
      'simHard',
      'twin',
    ]);
    expect(Object.keys(KEEP_RULES)).toEqual([
      'users',
      'items',
      'shops',
      'categories',
      'userDim',
      'featureDim',
      'seqLen',
      'alpha',
      'attention',
      'tower',
      'target',
    ]);
    expect(Object.keys(LIFELONG_RULES).slice(-9)).toEqual([
      'module',
      'lifelongLen',
      'context',
      'contextDim',
      'lap',
      'simSoft',
      'simHard',
      'twin',
      'crp',
    ]);
  });
});

describe('jsonSchemaProblems: the subset the tables emit', () => {
  const schema = {
    ...rulesToJsonSchema(
      {
        n: { kind: 'int', min: 1, max: 3 },
        x: { kind: 'number', gt: 0, lt: 1 },
        s: { kind: 'string', oneOf: ['a', 'b'] },
        t: { kind: 'text' },
        l: { kind: 'strings', oneOf: ['p', 'q'] },
        o: { kind: 'object' },
        b: { kind: 'bool' },
      },
      { required: ['n'], nested: { o: rulesToJsonSchema({ k: { kind: 'int', min: 0 } }) } },
    ),
  };
  it('accepts a fitting value and names every problem by its path', () => {
    expect(jsonSchemaProblems(schema, { n: 2, x: 0.5, s: 'a', t: 'x', l: ['p'], o: { k: 0 }, b: true })).toEqual([]);
    expect(jsonSchemaProblems(schema, { n: 4, x: 1, s: 'c', t: '', l: ['p', 'p', 'r'], o: { k: -1, z: 1 }, b: 'yes' })).toEqual([
      '$.n: expected <= 3, got 4',
      '$.x: expected < 1, got 1',
      '$.s: expected one of "a", "b", got "c" (a string)',
      '$.t: expected at least 1 characters, got "" (a string)',
      '$.l: expected distinct items, got ["p","p","r"] (an array)',
      '$.l[2]: expected one of "p", "q", got "r" (a string)',
      '$.o.k: expected >= 0, got -1',
      '$.o.z: not allowed (additionalProperties false; expected one of k)',
      '$.b: expected type boolean, got "yes" (a string)',
    ]);
    expect(jsonSchemaProblems(schema, { x: 0 })).toEqual(['$.n: missing (required)', '$.x: expected > 0, got 0']);
    expect(jsonSchemaProblems(schema, { n: 1.5 })).toEqual(['$.n: expected type integer, got 1.5']);
    expect(jsonSchemaProblems({ anyOf: [{ type: 'integer', minimum: 0 }, { enum: ['epoch'] }] }, 'epochs')).toEqual([
      '$: expected {"type":"integer","minimum":0} or {"enum":["epoch"]}, got "epochs" (a string)',
    ]);
  });
  it('refuses a keyword it does not read rather than pass it', () => {
    expect(() => jsonSchemaProblems({ type: 'object', patternProperties: {} }, {})).toThrow(
      'jsonSchemaProblems: $: unsupported keyword(s) patternProperties',
    );
  });
});
