/**
 * Every model's graphs hash as pinned here: experiment runs and checkpoints are reused by these
 * hashes, so a change to a graph must be deliberate (update the value and say why in the commit).
 * The lifelong family's LCN graphs changed on 2026-12-08 (SPEC's K2 tie rule, CRP's log-mean-exp
 * default); sim-soft, sim-hard, twin, DIN, AvgPooling, IFA and KEEP hash as before that session.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  LIFELONG_PRESETS,
  buildAvgPoolTrain,
  buildDin,
  buildDinTrain,
  buildIfa,
  buildIfaTrain,
  buildKeepTrain,
  buildKeepTwoTowerTrain,
  buildLifelong,
  buildLifelongTrain,
  serializeGraph,
} from '../src/index.ts';
import {
  DIN_TEST_CONFIG,
  IFA_TEST_CONFIG,
  KEEP_TEST_CONFIG,
  KEEP_TWO_TOWER_TEST_CONFIG,
  LIFELONG_TEST_CONFIG,
} from '../src/testing/index.ts';

const PINNED: Record<string, string> = {
  'sim-soft train': '6e70d81a94ac',
  'sim-soft serve': '270494518844',
  'twin train': 'b5b764572b7e',
  'twin serve': 'e48674c040ec',
  'sim-hard train': 'fb0ee42dc191',
  'sim-hard serve': '521d99e7fe20',
  'lcn train': '5ca2ea555980',
  'lcn serve': '15359db59a5b',
  'lcn lambda0 train': 'a2b6e42728a4',
  'din train': 'a16cd30b095f',
  'din serve': '3c0b8fec7f54',
  'avgpool train': '3e7b7e7c8798',
  'ifa train': '896e0f933332',
  'ifa serve': '82ddfe5fd8aa',
  'keep train': '21f6f25d7c6f',
  'keep two-tower train': '6a220bb4d596',
};

const h = (g: Parameters<typeof serializeGraph>[0]) => createHash('sha256').update(serializeGraph(g)).digest('hex').slice(0, 12);

describe('graph hashes', () => {
  it('every pinned graph builds to its pinned hash', () => {
    const got: Record<string, string> = {};
    for (const preset of ['sim-soft', 'twin', 'sim-hard', 'lcn'] as const) {
      const cfg = { ...LIFELONG_TEST_CONFIG, ...LIFELONG_PRESETS[preset] };
      got[`${preset} train`] = h(buildLifelongTrain(cfg));
      got[`${preset} serve`] = h(buildLifelong(cfg));
    }
    got['lcn lambda0 train'] = h(buildLifelongTrain({ ...LIFELONG_TEST_CONFIG, crp: { ...LIFELONG_TEST_CONFIG.crp!, lambda: 0 } }));
    const din = DIN_TEST_CONFIG;
    got['din train'] = h(buildDinTrain(din));
    got['din serve'] = h(buildDin(din));
    const { attention: _attention, ...avgpool } = din;
    got['avgpool train'] = h(buildAvgPoolTrain(avgpool));
    got['ifa train'] = h(buildIfaTrain(IFA_TEST_CONFIG));
    got['ifa serve'] = h(buildIfa(IFA_TEST_CONFIG));
    got['keep train'] = h(buildKeepTrain(KEEP_TEST_CONFIG));
    got['keep two-tower train'] = h(buildKeepTwoTowerTrain(KEEP_TWO_TOWER_TEST_CONFIG));
    expect(got).toEqual(PINNED);
  });
});
