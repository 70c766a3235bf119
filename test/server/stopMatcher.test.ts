/**
 * StopMatcher against the obvious reference: the released text must equal the whole text cut at the
 * first occurrence of any stop string, however the text is split into chunks, and nothing that could
 * still turn into a stop string is released early.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopMatcher } from '../../src/server/stopMatcher.ts';
import { Rng } from '../../src/util/rng.ts';

function reference(text: string, stops: string[]): { out: string; stopped: boolean } {
  let cut = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut < 0 ? { out: text, stopped: false } : { out: text.slice(0, cut), stopped: true };
}

test('stop strings split across chunks are caught and never released', () => {
  const m = new StopMatcher([' Lily']);
  assert.equal(m.push('named Li'), 'named');
  assert.equal(m.push('ly. She'), '');
  assert.equal(m.stopped, true);
  assert.equal(m.flush(), '');
});

test('held-back text is released when it stops matching, and at the end', () => {
  const m = new StopMatcher(['\nUser:']);
  assert.equal(m.push('Hi\nUs'), 'Hi');
  assert.equal(m.push('ed it'), '\nUsed it');
  assert.equal(m.push(' \nU'), ' ');
  assert.equal(m.flush(), '\nU');
  assert.equal(m.stopped, false);
});

test('random texts and random chunkings agree with indexOf on the whole text', () => {
  const rng = new Rng(7);
  const alphabet = 'ab \nU:';
  for (let trial = 0; trial < 2000; trial++) {
    const len = rng.int(30);
    let text = '';
    for (let i = 0; i < len; i++) text += alphabet[rng.int(alphabet.length)];
    const stops = Array.from({ length: 1 + rng.int(3) }, () => {
      let s = '';
      const n = 1 + rng.int(4);
      for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
      return s;
    });
    const m = new StopMatcher(stops);
    let out = '';
    let pos = 0;
    while (pos < text.length && !m.stopped) {
      const k = 1 + rng.int(5);
      out += m.push(text.slice(pos, pos + k));
      pos += k;
    }
    out += m.flush();
    const ref = reference(text, stops);
    assert.equal(out, ref.out, `text ${JSON.stringify(text)} stops ${JSON.stringify(stops)}`);
    assert.equal(m.stopped, ref.stopped);
  }
});
