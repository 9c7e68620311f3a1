// Which nodes of the Datasets tree a batch of file events refreshes. A refresh of the whole tree
// drops every node handle in the extension host: the workbench asking at that moment for a
// folder's children, or a click on a file, got "No tree item with id" (as in the Runs view).
// So the whole tree is refreshed only when the root's own children change.

export interface ShownTree {
  /** The root lists folders (more than one folder holds datasets), not the files directly. */
  readonly foldersAtRoot: boolean;
  /** The folders the root lists. */
  readonly dirs: ReadonlySet<string>;
}

export interface TreeEvent {
  /** added / removed: the file appears in or leaves its folder's list; changed: only its item. */
  readonly kind: 'added' | 'removed' | 'changed';
  readonly file: string;
  readonly dir: string;
}

export interface RefreshPlan {
  readonly whole: boolean;
  readonly dirs: readonly string[];
  readonly files: readonly string[];
}

/**
 * The refresh for `events`, given what the root shows and how many files each folder lists once
 * the events are applied.
 */
export function planRefresh(events: readonly TreeEvent[], shown: ShownTree, filesPerDir: ReadonlyMap<string, number>): RefreshPlan {
  const whole: RefreshPlan = { whole: true, dirs: [], files: [] };
  const dirsAfter = [...filesPerDir].filter(([, n]) => n > 0).length;
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const e of events) {
    if (e.kind === 'changed') {
      files.add(e.file);
      continue;
    }
    // The root's children change: it lists the files themselves, or a folder comes or goes.
    if (!shown.foldersAtRoot || dirsAfter <= 1 || !shown.dirs.has(e.dir) || !(filesPerDir.get(e.dir) ?? 0)) return whole;
    dirs.add(e.dir);
  }
  // A folder refreshed refreshes its files too.
  for (const e of events) if (dirs.has(e.dir)) files.delete(e.file);
  return { whole: false, dirs: [...dirs], files: [...files] };
}
