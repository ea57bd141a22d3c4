/** Every workflow the worker registers (the bundle's entry point). */
export { speculativeTask } from './task/speculative-task';
export { speculationControl } from './speculation-control';
export { operatorAction } from './operator-action';
export { rollout, rolloutPhase } from './rollout';
