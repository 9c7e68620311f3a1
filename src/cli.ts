// The headless entry, `node dist/cli.js <command> ...`: the extension's checks without VS Code,
// for a pre-commit hook or the CI of a data repository, and `chat` with an exported model. Plain Node: no `vscode` import here or
// below. `python -m neftune_trainer <command>` answers the same commands in the same shape.
import { checkRunConfigFile, formatProblems, type ConfigProblem } from './core/configValidation';
import { validateCommand } from './core/datasets/validateCommand';
import { CHAT_USAGE, chatCommand } from './core/chat/chatCommand';

/** Exit codes: no problem, a problem (warnings alone are not), a file that cannot be read. */
const OK = 0;
const PROBLEMS = 1;
const UNREADABLE = 2;

type Command = (args: readonly string[]) => number | Promise<number>;

const commands: Record<string, { usage: string; run: Command }> = {
  'check-config': { usage: 'check-config FILE... [--json]', run: checkConfig },
  validate: { usage: 'validate FILE [--json]', run: (args) => validateCommand(args, process.stdout) },
  chat: { usage: CHAT_USAGE, run: (args) => chatCommand(args, process.stdout, process.stderr) },
};

/** One JSON line per file, `{"file", "problems": [{"line", "key", "message", "severity"}]}`, with --json;
 * else `file:line:col: message` lines. */
function checkConfig(args: readonly string[]): number {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (!files.length) return usage();
  let code = OK;
  for (const file of files) {
    let problems: readonly ConfigProblem[];
    try {
      problems = checkRunConfigFile(file).problems;
    } catch (e) {
      process.stderr.write(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}\n`);
      code = UNREADABLE;
      continue;
    }
    if (json) {
      const out = problems.map((p) => ({ line: p.start.line + 1, key: p.field, message: p.message, severity: p.severity }));
      process.stdout.write(`${JSON.stringify({ file, problems: out })}\n`);
    } else if (problems.length) {
      process.stdout.write(`${formatProblems(file, problems)}\n`);
    }
    if (code === OK && problems.some((p) => p.severity === 'error')) code = PROBLEMS;
  }
  return code;
}

function usage(): number {
  const lines = Object.values(commands).map((c) => `  node dist/cli.js ${c.usage}`);
  process.stderr.write(`usage:\n${lines.join('\n')}\n`);
  return UNREADABLE;
}

// `... | head` closes the pipe early: that is the reader's choice, not an error to crash on.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 128 + 13); // as a shell reports SIGPIPE
  throw e;
});

const [name = '', ...rest] = process.argv.slice(2);
void Promise.resolve(commands[name]?.run(rest) ?? usage()).then((code) => {
  process.exitCode = code;
});
