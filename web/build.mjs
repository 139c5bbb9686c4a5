// Bundles src/ into dist/: content-hashed files under dist/assets/ (served as immutable) and dist/index.html (served
// no-cache) that names them. No inline script or style anywhere, so the strict Content-Security-Policy holds.
import { build } from "esbuild";
import { mkdir, rm, writeFile, readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import path from "node:path";

const root = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(root, "dist");
const javaScriptBudgetBytes = 150 * 1024;

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, "assets"), { recursive: true });

const result = await build({
  entryPoints: { app: path.join(root, "src/main.tsx") },
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outdir: path.join(dist, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((file) => path.relative(dist, path.resolve(file)));
const script = outputs.find((file) => file.endsWith(".js"));
const style = outputs.find((file) => file.endsWith(".css"));
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TaskRunner</title>
<link rel="stylesheet" href="/${style}">
<script type="module" src="/${script}"></script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`;
await writeFile(path.join(dist, "index.html"), html);

const sizes = {};
for (const file of [script, style]) sizes[file] = gzipSync(await readFile(path.join(dist, file)), { level: 9 }).length;
await writeFile(path.join(root, "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");
for (const [file, bytes] of Object.entries(sizes)) console.log(`${file}: ${bytes} bytes gzipped`);
if (sizes[script] > javaScriptBudgetBytes) {
  console.error(`JavaScript is ${sizes[script]} bytes gzipped, over the ${javaScriptBudgetBytes}-byte budget`);
  process.exit(1);
}
