// `assay score`: offline scoring of a predictions file against a truth file with the facility's own metric code.
// Each task's scorer lives with its definition (src/tasks/<task>/); this command only dispatches through the registry.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_BOOTSTRAP } from '../metrics/binary-classification';
import { MetricInputError } from '../metrics/metrics.errors';
import { BadInput, refuseForeignOptions, type ScoreIo, type ScoreOptions, UsageError } from '../tasks/offline-scoring';
import { allTaskDefinitions, PLANNED_TASKS, taskByOfflineName } from '../tasks/registry';

export type { ScoreIo, ScoreOptions } from '../tasks/offline-scoring';

/**
 * Exit codes of `assay score` (one convention, documented in --help and the README):
 *   0 report printed; 1 internal failure (a bug: report it); 2 usage error (unknown or missing option, unknown task,
 *   a bad option value such as --threshold abc or --bootstrap 0, an option that does not apply to the task);
 *   3 unusable input data (unreadable file, invalid line, cases that do not align, data on which the report cannot
 *   be computed at all).
 */
export const EXIT_USAGE = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_CODES_HELP = 'exit codes: 0 report printed, 1 internal failure, 2 usage error (options, task), 3 unusable input data (files, lines, cases)';

const scorers = (): string[] => allTaskDefinitions().map((t) => t.offline.name);

/** Every task option, with the task that owns it (an option given to another task is a usage error). */
const taskOptions = (): { key: string; owner: string; flags: string; description: string }[] =>
  allTaskDefinitions().flatMap((t) => t.offline.options.map((o) => ({ ...o, owner: t.offline.name })));

/** Testable core of the command; returns the process exit code. */
export function runScore(options: ScoreOptions, io: ScoreIo): number {
  const task = Object.hasOwn(PLANNED_TASKS, options.task) ? null : taskByOfflineName(options.task);
  if (task === null) {
    const planned = Object.hasOwn(PLANNED_TASKS, options.task) ? PLANNED_TASKS[options.task] : undefined;
    io.stderr(
      planned !== undefined
        ? `not supported yet: ${options.task} (planned: ${planned}); supported tasks: ${scorers().join(', ')}\n`
        : `unknown task "${options.task}"; supported tasks: ${scorers().join(', ')}\n`,
    );
    return EXIT_USAGE;
  }
  try {
    refuseForeignOptions(options, task.offline, taskOptions());
    io.stdout(`${JSON.stringify(task.offline.run(options, io), null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`usage error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof BadInput || e instanceof MetricInputError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw e;
  }
}

const NODE_IO: ScoreIo = {
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export function registerScoreCommand(program: Command, io: ScoreIo = NODE_IO, exit: (code: number) => void = (code) => process.exit(code)): void {
  const tasks = allTaskDefinitions();
  const command = program
    .command('score')
    // Commander's own usage errors (unknown option, missing --truth, --task not a choice) exit 2 too, not 1.
    .exitOverride((err) => exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .description('score a predictions file against a truth file and print the metric report as JSON')
    .addOption(new Option('--task <task>', 'task type').choices([...scorers(), ...Object.keys(PLANNED_TASKS)]).makeOptionMandatory())
    .requiredOption('--truth <path>', `truth CSV: ${tasks.map((t) => t.offline.truthHelp).join('; ')}`)
    .requiredOption('--predictions <path>', `JSONL, one ${tasks.map((t) => t.offline.predictionsHelp).join(' or ')} per line`)
    .option('--compare <path>', 'second predictions file (model B) on the same cases: adds "comparison" (A − B, paired, Holm-adjusted p)');
  // One flag per key: tasks may share an option (binary and detection both take --threshold).
  const byKey = new Map<string, { flags: string; descriptions: string[] }>();
  for (const o of taskOptions()) {
    const seen = byKey.get(o.key);
    if (seen) seen.descriptions.push(o.description);
    else byKey.set(o.key, { flags: o.flags, descriptions: [o.description] });
  }
  for (const o of byKey.values()) command.option(o.flags, o.descriptions.join('; '));
  command
    .option('--bootstrap <B>', `bootstrap replicates B for every bootstrap CI and comparison (default ${DEFAULT_BOOTSTRAP.replicates})`)
    .option('--seed <s>', `bootstrap seed (default ${DEFAULT_BOOTSTRAP.seed})`)
    .action((options: ScoreOptions) => {
      process.exitCode = runScore(options, io);
    });
}
