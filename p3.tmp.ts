import { getLlama, LlamaCompletion, LlamaLogLevel } from 'node-llama-cpp';
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: '../shared/fixtures/models/stories260K.gguf' });
const ctx = await model.createContext({ contextSize: 2048, sequences: 1, threads: 1 });
const comp = new LlamaCompletion({ contextSequence: ctx.getSequence() });
for (const [p, temp] of [['', 0], ['Once upon a time', 0], ['The dog', 0], ['', 1]] as const) {
  let n = 0; const t = performance.now();
  const r = await comp.generateCompletionWithMeta(model.tokenize(p), { maxTokens: 2000, temperature: temp, seed: 1, topK: 0, topP: 1, repeatPenalty: false, disableContextShift: true, onToken: (x) => { n += x.length; } });
  console.log(JSON.stringify(p), temp, r.metadata.stopReason, n, (performance.now() - t).toFixed(0), 'ms');
}
