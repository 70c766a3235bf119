/**
 * Influence scores (docs/methods.md#influence-scores): gradient dot product (TracIn), activation x gradient
 * (factored, no full matrices), and the influence function with LiSSA and central-difference
 * Hessian-vector products; their validation against leave-one-out retraining; before/after
 * comparisons for unlearning runs.
 */
export { ParamSpace, dot, norm } from './vectors.ts';
export type { Objective } from './objective.ts';
export { hvp, lissa, topEigenvalue, type HvpOptions, type LissaOptions, type LissaResult } from './hvp.ts';
export { LmObjective } from './lmObjective.ts';
export { SoftmaxRegression, syntheticSoftmaxData, solveSymmetric, type SoftmaxData } from './softmaxRegression.ts';
export { looValidation, gradientDescent, type LooOptions, type LooResult } from './loo.ts';
export { exampleGradients, tracinScores, cosineTracinScores, gradientSimilarity } from './tracin.ts';
export { TapSession, exampleFactors, activationGradientScores, type ExampleFactors, type TapFactors } from './actGrad.ts';
export { influenceFunctionScores, type InfluenceFunctionResult } from './influenceFunction.ts';
export { influenceBeforeAfter, INFLUENCE_METHODS, type InfluenceMethod, type InfluenceComparison, type InfluencePair, type InfluenceTest } from './compare.ts';
