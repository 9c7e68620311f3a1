// The keys whose values differ between runs' resolved configs, flattened to dotted paths
// (`neftune.scale`, `datasets[0].path`), for the dashboard's comparison table.
export function flattenConfig(value: unknown, prefix = '', out: Map<string, string> = new Map()): Map<string, string> {
  if (Array.isArray(value)) {
    value.forEach((v, i) => flattenConfig(v, `${prefix}[${i}]`, out));
    if (value.length === 0) out.set(prefix, '[]');
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
    if (entries.length === 0 && prefix) out.set(prefix, '{}');
  } else if (prefix) {
    out.set(prefix, value === undefined ? '' : JSON.stringify(value));
  }
  return out;
}

export interface ConfigDiffRow {
  readonly key: string;
  /** One value per config, '' where a config lacks the key. */
  readonly values: string[];
}

export function configDiff(configs: ReadonlyArray<Readonly<Record<string, unknown>> | null>): ConfigDiffRow[] {
  const flat = configs.map((c) => flattenConfig(c ?? {}));
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
  const rows: ConfigDiffRow[] = [];
  for (const key of keys) {
    const values = flat.map((f) => f.get(key) ?? '');
    if (new Set(values).size > 1) rows.push({ key, values });
  }
  return rows;
}
