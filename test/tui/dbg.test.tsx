import { test } from 'node:test';
import { renderApp, sleep, KEYS } from './helpers.tsx';
test('dbg', async () => {
  const h = renderApp({ initial: { modelPath: null } });
  await sleep(300);
  await h.press('q'); await sleep(300);
  console.log(JSON.stringify(h.frame().split('\n').slice(-1).join('|')));
  await h.press('n'); await sleep(300);
  console.log(JSON.stringify(h.frame().split('\n').slice(-1).join('|')));
  await h.press('q'); 
  console.log(JSON.stringify(h.frame().split('\n').slice(-1).join('|')));
  await h.press('x'); await sleep(300);
  console.log(JSON.stringify(h.frame().split('\n').slice(-1).join('|')));
  h.unmount();
});
