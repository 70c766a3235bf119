/**
 * The app shell: tab bar and switching (number keys, Tab, Shift-Tab), the help overlay, quitting,
 * and the size contract (everything fits 80 x 24, one line short of the terminal; a larger terminal
 * gets wider panels).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEYS, renderApp } from './helpers.tsx';
import { HELP } from '../../src/tui/screens/HelpOverlay.tsx';

function lines(frame: string): string[] {
  return frame.split('\n');
}

test('tabs: number keys, Tab and Shift-Tab switch screens; every screen fits 80x24', async () => {
  const h = renderApp({ initial: { modelPath: null } });
  try {
    await h.waitFor((f) => f.includes('Models'), 'the Model screen');
    const seen: string[] = [];
    const marker: Record<string, string> = { '1': 'Models', '2': 'forget set:', '3': 'Fine-tune', '4': 'Unlearn', '5': 'Compare targets', '6': 'Runs (', '7': 'RUM on images' };
    for (const k of ['1', '2', '3', '4', '5', '6', '7']) {
      await h.press(k);
      const f = await h.waitFor((x) => x.includes(marker[k]!), `screen ${k}`);
      const ls = lines(f);
      assert.ok(ls.length <= 23, `screen ${k} has ${ls.length} lines (must be <= 23 in a 24-row terminal)`);
      for (const l of ls) assert.ok(l.length <= 80, `screen ${k}: line longer than 80 columns: "${l}"`);
      seen.push(k);
    }
    assert.equal(seen.length, 7);
    await h.press(KEYS.tab);
    await h.waitFor((f) => f.includes('Models'), 'Tab wraps from 7 to 1');
    await h.press(KEYS.shiftTab);
    await h.waitFor((f) => f.includes('RUM on images'), 'Shift-Tab goes back to 7');
  } finally {
    h.unmount();
  }
});

test('help overlay lists every screen\'s keys and closes with Esc', async () => {
  const h = renderApp({ initial: { modelPath: null }, columns: 120, rows: 40 });
  try {
    await h.press('3', '?');
    const f = await h.waitFor((x) => x.includes('unlearnkit keys'), 'the help overlay');
    for (const s of HELP) assert.ok(f.includes(s.title), `help shows ${s.title}`);
    // The current screen's section comes first.
    assert.ok(f.indexOf('3 Train') < f.indexOf('Everywhere'));
    await h.press(KEYS.esc);
    await h.waitFor((x) => !x.includes('unlearnkit keys') && x.includes('Fine-tune'), 'help closed');
  } finally {
    h.unmount();
  }
});

test('quit asks first; another key stays, y quits', async () => {
  const h = renderApp({ initial: { modelPath: null } });
  try {
    await h.press('q');
    await h.waitFor((f) => f.includes('Quit unlearnkit?'), 'the quit question');
    await h.press('n');
    await h.waitFor((f) => !f.includes('Quit unlearnkit?'), 'question gone');
    assert.equal(h.quitCalled(), false);
    await h.press('q', 'y');
    assert.equal(h.quitCalled(), true);
  } finally {
    h.unmount();
  }
});

test('larger terminals get wider panels', async () => {
  const small = renderApp({ initial: { modelPath: null }, tab: 'train' });
  const big = renderApp({ initial: { modelPath: null }, tab: 'train', columns: 140, rows: 40 });
  try {
    const fs = await small.waitFor((f) => f.includes('Fine-tune'), 'small');
    const fb = await big.waitFor((f) => f.includes('Fine-tune'), 'big');
    assert.equal(Math.max(...lines(fs).map((l) => l.length)), 80);
    assert.equal(Math.max(...lines(fb).map((l) => l.length)), 140);
    assert.equal(lines(fb).length, 39);
  } finally {
    small.unmount();
    big.unmount();
  }
});

test('a terminal smaller than 80x24 gets a message instead of a broken layout', async () => {
  const h = renderApp({ initial: { modelPath: null }, columns: 60, rows: 20 });
  try {
    const f = await h.waitFor((x) => x.includes('needs a terminal of at least 80 x 24'), 'the message');
    assert.match(f.replace(/\s+/g, ' '), /this one is 60 x 20/);
  } finally {
    h.unmount();
  }
});
