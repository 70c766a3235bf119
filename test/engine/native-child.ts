/**
 * Child process of nativeMatmul.test.ts: the kernel status under this process's environment, and
 * fastMatMul of a transposed operand against a float64 product, as one JSON line.
 */
import { Graph } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import { nativeKernels } from '../../src/engine/native.ts';
import { Rng } from '../../src/util/rng.ts';

const rng = new Rng(9);
const [K, M, N] = [37, 20, 26];
const g = new Graph({ maxNodes: 32 });
const w = g.input('w', [M, K]); // used transposed: a = w^T [K, M]
const x = g.input('x', [K, N]);
const y = op.fastMatMul(op.transpose(w), x);
g.build({ outputs: [y] });
g.allocate();
const wd = Float32Array.from({ length: M * K }, () => rng.normal());
const xd = Float32Array.from({ length: K * N }, () => rng.normal());
g.set(w, wd);
g.set(x, xd);
g.compute('forward');
const out = g.get(y);
let num = 0;
let den = 0;
for (let n = 0; n < N; n++)
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += wd[k * M + m]! * xd[n * K + k]!;
    num += (s - out[n * M + m]!) ** 2;
    den += s * s;
  }
g.dispose();
const st = nativeKernels();
console.log(JSON.stringify({ reason: st.reason, native: st.kernels !== null, relErr: Math.sqrt(num / den) }));
