/**
 * The step defaults every front-end shares (CLI, TUI, sweeps), in a module with no imports so that
 * the TUI's main process can read them without loading the engine (issue #20: one default step).
 */

/** Stored-gradient methods (first-epoch, all-epochs): reverse the recorded steps once (registry.ts resolveHyper). */
export const DEFAULT_ETA = 1;

/** The relative perplexity rise allowed on retain and general data (+5 %): --utility-budget's default (stepSearch.ts, pareto.ts). */
export const DEFAULT_UTILITY_BUDGET = 0.05;
