/**
 * The project's search attributes: registered when the dev server starts (and on any cluster by
 * `ensureSearchAttributes`), upserted by the workflows, queried by operators in the Web UI and by the
 * rollout's visibility metric source.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  taskId: defineSearchAttributeKey('AgencTaskId', SearchAttributeType.KEYWORD),
  rootTaskId: defineSearchAttributeKey('AgencRootTaskId', SearchAttributeType.KEYWORD),
  parentTaskId: defineSearchAttributeKey('AgencParentTaskId', SearchAttributeType.KEYWORD),
  agent: defineSearchAttributeKey('AgencAgent', SearchAttributeType.KEYWORD),
  taskType: defineSearchAttributeKey('AgencTaskType', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('AgencStatus', SearchAttributeType.KEYWORD),
  speculationStatus: defineSearchAttributeKey('AgencSpeculationStatus', SearchAttributeType.KEYWORD),
  depth: defineSearchAttributeKey('AgencDepth', SearchAttributeType.INT),
  rollbackReason: defineSearchAttributeKey('AgencRollbackReason', SearchAttributeType.KEYWORD),
  rolloutName: defineSearchAttributeKey('AgencRolloutName', SearchAttributeType.KEYWORD),
  rolloutPhase: defineSearchAttributeKey('AgencRolloutPhase', SearchAttributeType.INT),
} as const;

/** Name → the type word the Temporal CLI's `--search-attribute` flag takes. */
export const SEARCH_ATTRIBUTE_CLI_TYPES: Record<string, string> = Object.fromEntries(
  Object.values(SA).map((key) => [key.name, key.type === SearchAttributeType.INT ? 'Int' : 'Keyword']),
);
