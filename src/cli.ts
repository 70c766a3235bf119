/**
 * unlearnkit's one entry point. Every action the TUI offers is also a command here; both call the
 * same library code. With no arguments in an interactive terminal, the TUI opens.
 */
import { Command, CommanderError } from 'commander';
import { commandModules } from './commands/index.ts';
import { UserError } from './util/errors.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('unlearnkit')
    .description('Machine unlearning toolkit: fine-tune, unlearn and evaluate small LLMs; RUM on images.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  for (const m of commandModules) m.register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    if (argv.length <= 2) {
      // No command: the terminal UI in an interactive terminal, the help otherwise (pipes, CI).
      if (process.stdout.isTTY && process.stdin.isTTY) {
        // ink renders nothing until exit when it believes it runs in CI (is-in-ci reads CI at
        // import); a person (or tmux) at a real terminal asked for the TUI, so say it is not CI.
        process.env.CI = 'false';
        return await (await import('./tui/index.tsx')).runTui();
      }
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof UserError) {
      process.stderr.write(`unlearnkit: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const isEntry = process.argv[1] !== undefined && /unlearnkit(\.js)?$|cli\.ts$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`unlearnkit: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
