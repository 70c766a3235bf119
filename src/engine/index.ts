/**
 * unlearnkit/engine: the ggml engine (ggml from node-llama-cpp's shared libraries, through koffi).
 *
 * - getEngine(): the process's one engine on a chosen device (`auto`, `cpu`, `cuda`, `vulkan`), its
 *   devices and thread settings;
 * - Graph and Tensor: parameters, inputs, forward / backward / optimiser graphs built once and reused;
 * - ops: ggml operations with TypeScript shape checks; composite: differentiable LayerNorm, GELU,
 *   sigmoid, conv2d and normalisations built from ops that have a backward;
 * - autodiff guard, finite-difference gradient checks, the per-device self test, the native training
 *   matmul's status, and the ggml dtype / shape helpers (the engine benchmark is `unlearnkit bench engine`, src/bench/).
 *
 * The koffi binding itself (ffi.ts) stays internal: pointers never cross this API.
 */
export { getEngine, Engine, type DeviceType, type DeviceInfo, type EngineOptions } from './engine.ts';
export { Graph, Tensor, type OptimizerKind, type BuildOptions, type AdamWHyper, type SgdHyper, type GraphOptions, type Phase } from './graph.ts';
export * as ops from './ops.ts';
export * as composite from './composite.ts';
export { DIFFERENTIABLE_OPS, NotDifferentiableError, assertDifferentiable } from './autodiff.ts';
export { gradCheck, formatGradCheck, assertGradOk, type GradParamSpec, type GradInputSpec, type GradCheckOptions, type ParamGradReport, type GradCheckResult } from './gradcheck.ts';
export { selfTest, type SelfTestResult } from './selftest.ts';
export { nativeKernels, type NativeKernelStatus } from './native.ts';
export { DEVICE_CHOICES, findBinsDirs, nodeLlamaCppVersion, type DeviceChoice } from './loader.ts';
export { EXPECTED_NODE_LLAMA_CPP, EXPECTED_GGML_VERSION } from './ffi.ts';
export { GGML_TYPE, dtypeFromCode, checkShape, numel, trimShape, shapeStr, type DType, type Shape } from './types.ts';
