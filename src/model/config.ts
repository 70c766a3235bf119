/**
 * Model hyper-parameters read from GGUF metadata, in one shape for every architecture family
 * (arch/types.ts ModelConfig). Keys follow llama.cpp's naming (`<arch>.embedding_length`, ...), so
 * a file llama.cpp loads is a file we load, and the files we write load in llama.cpp. What each
 * family reads, implements and refuses is in its file under arch/ (registry.ts lists them).
 */
import type { GgufFile } from './gguf.ts';
import { expectedTensors, readModelConfig } from './arch/registry.ts';
import type { ModelConfig } from './arch/types.ts';

export { headDim, type ModelConfig, type TensorSpec } from './arch/types.ts';
export { ARCHITECTURES, expectedTensors, familyOf, type Architecture } from './arch/registry.ts';

/**
 * The config of a GGUF model. Refuses (UserError naming the key or tensor) an unknown architecture,
 * any `<arch>.*` key or tensor the family does not implement, and unsupported values (rope scaling
 * types other than none / linear, ...): see arch/registry.ts.
 */
export function configFromGguf(f: GgufFile): ModelConfig {
  return readModelConfig(f);
}

/** Names of the trainable tensors of a config (every tensor but constants such as rope_freqs.weight), in file order. */
export function parameterNames(c: ModelConfig): string[] {
  return expectedTensors(c)
    .filter((t) => !t.constant)
    .map((t) => t.name);
}
