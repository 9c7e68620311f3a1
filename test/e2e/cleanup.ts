// Process cleanup for the end-to-end tests: every process group the harness starts is
// registered here and killed on close, on a failing test, on SIGINT/SIGTERM/SIGHUP and, as
// a last resort, synchronously in process.on('exit').
//
// code-server is started in its own process group (detached = setsid), so killing the
// group (`kill -- -PGID`) also stops its file watcher and extension host. The extension
// may start the trainer in a process group of its own: before killing, we walk /proc for
// all descendants of the code-server process and kill their groups too.

import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';

const groups = new Set<number>();
const tempDirs = new Set<string>();
let installed = false;

/** All descendants of `root` (by parent pid), read from /proc. Linux only. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces or parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      /* process gone */
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

function pgidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[2]);
  } catch {
    return undefined;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process group below (and including) the group led by `pgid`. */
function groupsBelow(pgid: number): number[] {
  const out = new Set<number>([pgid]);
  for (const d of descendants(pgid)) {
    const g = pgidOf(d);
    if (g && g > 1 && g !== process.pid && g !== pgidOf(process.pid)) out.add(g);
  }
  return [...out];
}

function signalGroups(list: number[], sig: NodeJS.Signals): void {
  for (const g of list) {
    try {
      process.kill(-g, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Kill a registered process group (and groups of its descendants): SIGTERM, then SIGKILL. */
export async function killGroup(pgid: number, graceMs = 3000): Promise<void> {
  const list = groupsBelow(pgid);
  signalGroups(list, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && list.some(groupAlive)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  signalGroups(list, 'SIGKILL');
  groups.delete(pgid);
}

/** Processes whose working directory or command line is inside `dir` (our temp folders only). */
export function processesIn(dir: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        /* gone or not ours */
      }
      if (cwd === dir || cwd.startsWith(`${dir}/`) || cmd.includes(`${dir}/`)) out.push(Number(e));
    } catch {
      /* process gone */
    }
  }
  return out;
}

/** SIGTERM, then SIGKILL, the processes working inside `dir` (by pid). */
export async function killProcessesIn(dir: string, graceMs = 3000): Promise<void> {
  const pids = processesIn(dir);
  if (!pids.length) return;
  const alive = (p: number) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  for (const p of pids.filter(alive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function killAllSync(): void {
  for (const g of [...groups]) signalGroups(groupsBelow(g), 'SIGKILL');
  groups.clear();
  for (const d of tempDirs) {
    for (const p of processesIn(d)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  if (process.env.NEFTUNE_E2E_KEEP !== '1') {
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }
  tempDirs.clear();
}

/** A temp folder to remove at exit, also on SIGINT/SIGTERM (unless NEFTUNE_E2E_KEEP=1). */
export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
  installHandlers();
}

export function unregisterTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/** Register a process group leader to be killed whatever happens. */
export function registerGroup(pgid: number): void {
  groups.add(pgid);
  installHandlers();
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n[e2e] ${sig}: stopping ${groups.size} process group(s)\n`);
      killAllSync();
      process.exit(code);
    });
  }
}

export function unregisterGroup(pgid: number): void {
  groups.delete(pgid);
}
