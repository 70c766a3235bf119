/**
 * unlearnkit's one entry point. Every action the TUI offers is also a command here; both call the
 * same library code. With no arguments in an interactive terminal, the TUI opens.
 *
 * Start-up is lazy: the top-level help comes from the command table (commands/index.ts) and the
 * version from package.json, so `--help` and `--version` import no command module; a command's
 * module is imported only when that command runs or shows its own help.
 *
 * Errors: a UserError prints its message (exit 2), anything else its stack (exit 1), commander's
 * usage errors keep commander's code. When the command line has `--json`, stdout also gets one JSON
 * object `{"error": {"message", "kind": "user" | "internal", ...}}` for the program reading it.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Help } from 'commander';
import { commands, commandLoaders, type CommandEntry } from './commands/index.ts';
import { UserError } from './util/errors.ts';

/** The package version (package.json sits one folder above both src/ and dist/). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The command a command line asks for (`unlearnkit <cmd> ...` or `unlearnkit help <cmd>`). */
function requestedCommand(args: string[]): string | undefined {
  const operands = args.filter((a) => !a.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * The program for one command line: the module of the requested command registered for real, every
 * other command as a stub that only names and describes it (for the help and for commander's
 * "unknown command" suggestions). `all` registers every module (tests, tools).
 */
export async function buildProgram(argv: string[] = [], o: { all?: boolean } = {}): Promise<Command> {
  const program = new Command();
  const stubs = new Map<Command, CommandEntry>();
  program
    .name('unlearnkit')
    .description('Machine unlearning toolkit: fine-tune, unlearn and evaluate small LLMs; RUM on images.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({
      subcommandTerm(this: Help, cmd: Command): string {
        const stub = stubs.get(cmd);
        return stub ? [stub.name, stub.usage].filter(Boolean).join(' ') : Help.prototype.subcommandTerm.call(this, cmd);
      },
    });
  const wanted = requestedCommand(argv.slice(2));
  const loaders = o.all ? commandLoaders() : commands.filter((c) => c.name === wanted).map((c) => c.load);
  for (const load of loaders) (await load()).register(program);
  const registered = new Set(program.commands.map((c) => c.name()));
  for (const entry of commands) {
    if (registered.has(entry.name)) continue;
    const stub = program
      .command(entry.name)
      .description(entry.description)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new Error(`command ${entry.name} ran without its module being loaded`);
      });
    stubs.set(stub, entry);
  }
  // Usage errors anywhere in the tree throw a CommanderError to main() instead of exiting.
  const throwOnExit = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(throwOnExit);
  };
  throwOnExit(program);
  const order = new Map(commands.map((c, i) => [c.name, i]));
  (program.commands as Command[]).sort((a, b) => (order.get(a.name()) ?? order.size) - (order.get(b.name()) ?? order.size));
  return program;
}

/** True when the command line asks for JSON output (`--json` before any `--`). */
function wantsJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/**
 * Print a failure and return its exit code: 2 for a UserError, commander's code for usage errors,
 * 1 otherwise. With `json`, `{"error": {...}}` also goes to `out` (stdout) as one line.
 */
export function reportFailure(e: unknown, json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let code: number;
  let error: Record<string, unknown>;
  if (e instanceof CommanderError) {
    // commander has already written its message to stderr.
    if (e.exitCode === 0) return 0;
    code = e.exitCode;
    error = { message: e.message.replace(/^error: /, ''), kind: 'user', code: e.code };
  } else if (e instanceof UserError) {
    err.write(`unlearnkit: ${e.message}\n`);
    code = 2;
    error = { message: e.message, kind: 'user' };
  } else {
    const x = e instanceof Error ? e : new Error(String(e));
    err.write(`unlearnkit: ${x.stack ?? x.message}\n`);
    code = 1;
    error = { message: x.message, kind: 'internal', name: x.name };
    const errno = (x as NodeJS.ErrnoException).code;
    if (typeof errno === 'string') error.code = errno;
  }
  if (json) out.write(JSON.stringify({ error }) + '\n');
  return code;
}

/** Run one command line (`argv` as process.argv: node, script, args...); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  try {
    const program = await buildProgram(argv);
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
    // a command that finished but failed its own check (doctor: engine NOT OK) sets process.exitCode
    return Number(process.exitCode ?? 0) || 0;
  } catch (e) {
    return reportFailure(e, json);
  }
}

/** The executable's body (bin/unlearnkit.js): run process.argv and set the exit code. */
export async function runCli(argv: string[] = process.argv): Promise<void> {
  process.exitCode = await main(argv);
}

/** True when this module is the program Node started (`node src/cli.ts` under tsx, `node dist/cli.js`). */
function isMainModule(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) await runCli();
