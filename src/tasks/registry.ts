import { BINARY_CLASSIFICATION } from './binary-classification/binary-classification.task';
import { DETECTION } from './detection/detection.task';
import { SEGMENTATION } from './segmentation/segmentation.task';
import { SURVIVAL } from './survival/survival.task';
import type { TaskDefinition } from './task-definition';

/**
 * Every task Assay can run, one definition each. Adding a task: a folder under src/tasks/<task>/ with its
 * TaskDefinition, and one line here. Nothing outside src/tasks/ switches on the task's name.
 */
const TASKS: readonly TaskDefinition[] = [BINARY_CLASSIFICATION as TaskDefinition, SURVIVAL as TaskDefinition, SEGMENTATION as TaskDefinition, DETECTION as TaskDefinition];

/** Tasks named by the schema but not implemented yet, with where they are specified (CLI and validation messages). */
export const PLANNED_TASKS: Readonly<Record<string, string>> = {};

const BY_TASK = new Map(TASKS.map((t) => [t.task, t]));
const BY_OFFLINE_NAME = new Map(TASKS.map((t) => [t.offline.name, t]));

/** The task names that can run today (benchmark.yaml `task`). */
export function supportedTasks(): string[] {
  return TASKS.map((t) => t.task);
}

export function findTaskDefinition(task: string): TaskDefinition | null {
  return BY_TASK.get(task) ?? null;
}

/** The definition of a task; throws for a task that is not registered (a stored benchmark names only registered ones). */
export function taskDefinition(task: string): TaskDefinition {
  const def = BY_TASK.get(task);
  if (!def) throw new Error(`no task definition for '${task}'; registered: ${supportedTasks().join(', ')}`);
  return def;
}

/** The task whose offline scorer is `assay score --task <name>`. */
export function taskByOfflineName(name: string): TaskDefinition | null {
  return BY_OFFLINE_NAME.get(name) ?? null;
}

export function allTaskDefinitions(): readonly TaskDefinition[] {
  return TASKS;
}

/** The task that ingests cohorts of a tabular descriptor format ('tabular-binary', 'tabular-survival'). */
export function taskForCohortFormat(format: string): TaskDefinition {
  const def = TASKS.find((t) => t.tabular?.cohortFormat === format);
  if (!def) throw new Error(`no task ingests cohort format '${format}'`);
  return def;
}
