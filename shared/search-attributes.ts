/**
 * The project's search attributes: registered when the dev server starts (and on any cluster by
 * `ensureSearchAttributes`), upserted by the workflows, queried by operators in the Web UI and by the
 * rollout's visibility metric source.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  taskId: defineSearchAttributeKey('AgencTaskId', SearchAttributeType.KEYWORD),
  rootTaskId: defineSearchAttributeKey('AgencRootTaskId', SearchAttributeType.KEYWORD),
  /** The first parent, the only one a run started before task graphs has; `parentTaskIds` holds every parent. */
  parentTaskId: defineSearchAttributeKey('AgencParentTaskId', SearchAttributeType.KEYWORD),
  /** Every parent, whatever its edge's kind: `AgencParentTaskIds = "ID"` finds a task's children. */
  parentTaskIds: defineSearchAttributeKey('AgencParentTaskIds', SearchAttributeType.KEYWORD_LIST),
  agent: defineSearchAttributeKey('AgencAgent', SearchAttributeType.KEYWORD),
  taskType: defineSearchAttributeKey('AgencTaskType', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('AgencStatus', SearchAttributeType.KEYWORD),
  speculationStatus: defineSearchAttributeKey('AgencSpeculationStatus', SearchAttributeType.KEYWORD),
  depth: defineSearchAttributeKey('AgencDepth', SearchAttributeType.INT),
  rollbackReason: defineSearchAttributeKey('AgencRollbackReason', SearchAttributeType.KEYWORD),
  rolloutName: defineSearchAttributeKey('AgencRolloutName', SearchAttributeType.KEYWORD),
  rolloutPhase: defineSearchAttributeKey('AgencRolloutPhase', SearchAttributeType.INT),
} as const;

type UsedType = (typeof SA)[keyof typeof SA]['type'];

/** The Temporal CLI's word for each type the project uses (a new type fails to compile until it has one). */
const CLI_TYPE_WORDS: Record<UsedType, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

/** Name → the type word the Temporal CLI's `--search-attribute` flag takes. */
export const SEARCH_ATTRIBUTE_CLI_TYPES: Record<string, string> = Object.fromEntries(
  Object.values(SA).map((key) => [key.name, CLI_TYPE_WORDS[key.type]]),
);
