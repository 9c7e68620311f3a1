// The README's "Trainer CLI" table names every subcommand trainer/neftune_trainer/cli.py defines,
// and no other, so a new command cannot ship undocumented.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '..', '..');

describe('README: Trainer CLI', () => {
  it('lists every subcommand of python -m neftune_trainer', () => {
    const cli = fs.readFileSync(path.join(repo, 'trainer', 'neftune_trainer', 'cli.py'), 'utf8');
    const commands = [...cli.matchAll(/\.add_parser\(\s*"([a-z-]+)"/g)].map((m) => m[1]!).sort();
    assert.ok(commands.includes('train') && commands.includes('judge'), commands.join(', '));
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
    const start = readme.indexOf('## Trainer CLI\n');
    assert.ok(start >= 0, 'README.md has no "## Trainer CLI" section');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const listed = [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(listed, commands, 'README.md "Trainer CLI" rows differ from cli.py subcommands');
  });
});
