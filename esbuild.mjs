// One bundle for the extension host (vscode and onnxruntime-node external), one for the headless
// CLI (plain Node), one for the chat engine child (onnxruntime-node external), one per webview.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  minify: production,
  sourcemap: !production,
  logLevel: 'info',
};

const builds = [
  {
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    // vscode is provided by the host; onnxruntime-node is a native module loaded at run time.
    external: ['vscode', 'onnxruntime-node'],
  },
  {
    // `node dist/cli.js check-config FILE`: plain Node, so nothing external (a vscode import fails the build).
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.js',
    platform: 'node',
    format: 'cjs',
    target: 'node18',
  },
  {
    // The chat engine child (dist/chatEngine.js), forked by the host and by `cli.js chat`;
    // onnxruntime-node is a native module, loaded from node_modules at run time.
    ...common,
    entryPoints: ['src/chatEngine.ts'],
    outfile: 'dist/chatEngine.js',
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['onnxruntime-node'],
  },
  {
    ...common,
    entryPoints: { dashboard: 'webview/dashboard/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  {
    ...common,
    entryPoints: { dashboard: 'webview/dashboard/dashboard.css' },
    outdir: 'dist/webview',
  },
  {
    ...common,
    entryPoints: { datasetPreview: 'webview/datasetPreview/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  {
    ...common,
    entryPoints: { datasetPreview: 'webview/datasetPreview/datasetPreview.css' },
    outdir: 'dist/webview',
  },
  {
    ...common,
    entryPoints: { chat: 'webview/chat/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  {
    ...common,
    entryPoints: { chat: 'webview/chat/chat.css' },
    outdir: 'dist/webview',
  },
  {
    ...common,
    entryPoints: { compareReport: 'webview/compareReport/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  {
    ...common,
    entryPoints: { compareReport: 'webview/compareReport/compareReport.css' },
    outdir: 'dist/webview',
  },
];

if (watch) {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
