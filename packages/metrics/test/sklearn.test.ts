/**
 * Our metrics against scikit-learn (Debian's python3-sklearn, run as /usr/bin/python3) on seeded
 * random data: several sizes, class balances and tie densities. One python process answers every
 * case. A missing python3 or sklearn FAILS this suite (CI installs python3-sklearn; see .ci/run).
 */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { auc, gauc, logloss } from '../src/index.ts';

const PYTHON = '/usr/bin/python3';

// Per case: sklearn's roc_auc_score, log_loss on probabilities clipped to [1e-7, 1 - 1e-7] (we clip
// first: sklearn's own eps argument changed across versions), and GAUC built from per-group
// roc_auc_score (groups with both labels, weighted by their sample count).
const SCRIPT = String.raw`
import json, sys
import numpy as np
from sklearn.metrics import roc_auc_score, log_loss
cases = json.load(sys.stdin)
out = []
for c in cases:
    y = np.asarray(c["labels"], dtype=np.float64)
    s = np.asarray(c["scores"], dtype=np.float64)
    g = np.asarray(c["groups"], dtype=np.int64)
    p = np.clip(s, 1e-7, 1 - 1e-7)
    num = 0.0; den = 0; users = 0
    for u in np.unique(g):
        m = g == u
        if 0 < y[m].sum() < m.sum():
            num += m.sum() * roc_auc_score(y[m], s[m]); den += int(m.sum()); users += 1
    out.append({"auc": float(roc_auc_score(y, s)), "logloss": float(log_loss(y, p, labels=[0, 1])),
                "gauc": num / den if den else None, "users": users, "impressions": den})
json.dump({"sklearn": __import__("sklearn").__version__, "results": out}, sys.stdout)
`;

interface Case {
  name: string;
  labels: number[];
  scores: number[];
  groups: number[];
  ties: boolean;
}
interface SkResult {
  auc: number;
  logloss: number;
  gauc: number | null;
  users: number;
  impressions: number;
}

/** mulberry32: a tiny seeded generator so this package keeps no dependencies */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * n samples, positive rate `rate`, scores informative (shifted up for positives) and, when
 * `levels` > 0, quantised to that many values so ties are dense; `extremes` puts exact 0s and 1s
 * in to exercise the logloss clipping. Groups: `users` ids, shuffled.
 */
function makeCase(name: string, seed: number, n: number, rate: number, levels: number, users: number, extremes = false): Case {
  const r = rng(seed);
  const labels: number[] = [],
    scores: number[] = [],
    groups: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = r() < rate ? 1 : 0;
    let s = Math.min(1, Math.max(0, 0.5 * r() + 0.3 * y + 0.2 * r()));
    if (levels > 0) s = Math.round(s * (levels - 1)) / (levels - 1);
    if (extremes && r() < 0.05) s = r() < 0.5 ? 0 : 1;
    labels.push(y);
    scores.push(s);
    groups.push(Math.floor(r() * users) * 7 - 50);
  }
  return { name, labels, scores, groups, ties: levels > 0 || extremes };
}

const CASES: Case[] = [
  makeCase('n=7 continuous', 1, 7, 0.5, 0, 2),
  makeCase('n=100 balanced, 5 score levels', 2, 100, 0.5, 5, 10),
  makeCase('n=100 continuous with 0/1 probabilities', 3, 100, 0.3, 0, 10, true),
  makeCase('n=1000 rare positives, 20 levels', 4, 1000, 0.05, 20, 40),
  makeCase('n=1000 continuous', 5, 1000, 0.4, 0, 100),
  makeCase('n=20000 float32 scores, 0/1 probabilities', 6, 20000, 0.2, 0, 500, true),
  makeCase('n=100000 3 score levels', 7, 100000, 0.1, 3, 3000),
];
// float32 scores: the values the model actually outputs
CASES[5]!.scores = Array.from(Float32Array.from(CASES[5]!.scores));

let sk: { sklearn: string; results: SkResult[] };

beforeAll(() => {
  const p = spawnSync(PYTHON, ['-c', SCRIPT], { input: JSON.stringify(CASES), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (p.error || p.status !== 0) {
    throw new Error(
      `the scikit-learn oracle could not run (${PYTHON}; install Debian's python3-sklearn: apt-get install -y python3-sklearn): ` +
        `${p.error?.message ?? `exit ${p.status}: ${p.stderr.trim()}`}`,
    );
  }
  sk = JSON.parse(p.stdout) as typeof sk;
  expect(sk.results.length).toBe(CASES.length);
}, 120_000); // importing scikit-learn takes seconds, more on a loaded machine

describe('metrics vs scikit-learn on seeded random data', () => {
  it('the cases have both classes, and ties where they claim to (so they test what they claim)', () => {
    expect(CASES.filter((c) => c.ties).length).toBe(5);
    for (const c of CASES) {
      if (c.ties) expect(new Set(c.scores).size).toBeLessThan(c.scores.length);
      expect(c.labels.some((y) => y === 1) && c.labels.some((y) => y === 0)).toBe(true);
    }
  });

  it.each(CASES.map((c, i) => [c.name, i] as const))('auc, %s', (_name, i) => {
    const c = CASES[i]!;
    expect(Math.abs(auc(c.labels, c.scores) - sk.results[i]!.auc)).toBeLessThan(1e-12);
  });

  it.each(CASES.map((c, i) => [c.name, i] as const))('logloss, %s', (_name, i) => {
    const c = CASES[i]!,
      want = sk.results[i]!.logloss;
    expect(Math.abs(logloss(c.labels, c.scores) - want) / want).toBeLessThan(1e-12);
  });

  it.each(CASES.map((c, i) => [c.name, i] as const))('gauc, %s', (_name, i) => {
    const c = CASES[i]!,
      want = sk.results[i]!;
    const got = gauc(c.labels, c.scores, c.groups);
    expect(got.users).toBe(want.users);
    expect(got.impressions).toBe(want.impressions);
    if (want.gauc === null) expect(got.gauc).toBeNaN();
    else expect(Math.abs(got.gauc - want.gauc)).toBeLessThan(1e-12);
  });
});
