// Validates Kubernetes manifests against the API schemas that kubernetes-models generates from the Kubernetes OpenAPI
// document (types, required fields, enums, formats such as quantities), offline. Run through deploy/validate-manifests.sh.
//
//   node validate-manifests.mjs [--json] <file.yaml>...
//
// Every YAML document with apiVersion and kind is validated against its kind's schema; an unknown kind is an error.
// Documents with neither (the Prometheus rule files) are skipped. A Kustomization's resources are validated too and
// must exist. YAML errors (including duplicate keys, which kubectl would silently collapse) are errors.
// Exit 0 when every object is valid, 1 otherwise. With --json the valid objects are printed as one JSON array of
// {file, object}, for tests that check what the manifests say.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const args = process.argv.slice(2);
const printJson = args[0] === "--json";
const queue = (printJson ? args.slice(1) : args).map((file) => path.resolve(file));
if (queue.length === 0) {
  console.error("usage: validate-manifests.mjs [--json] <file.yaml>...");
  process.exit(2);
}

const problems = [];
const objects = [];
const seen = new Set();

// apiVersion "v1" is the core group; "apps/v1" is group apps, version v1: the module layout of kubernetes-models.
async function modelFor(apiVersion, kind) {
  const modulePath = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    return (await import(modulePath))[kind];
  } catch {
    return undefined;
  }
}

async function validateObject(file, index, object) {
  const where = `${path.relative(process.cwd(), file)} document ${index + 1} (${object.kind} ${object.metadata?.name ?? "<no name>"})`;
  if (object.apiVersion?.startsWith("kustomize.config.k8s.io/")) {
    for (const resource of object.resources ?? []) queue.push(path.resolve(path.dirname(file), resource));
    return;
  }
  const Model = await modelFor(object.apiVersion, object.kind);
  if (!Model) {
    problems.push(`${where}: no schema for apiVersion ${object.apiVersion}, kind ${object.kind}`);
    return;
  }
  if (!object.metadata?.name) problems.push(`${where}: metadata.name is required`);
  try {
    new Model(object).validate();
    objects.push({ file: path.basename(file), object });
  } catch (error) {
    if (!Array.isArray(error.errors)) throw error;
    for (const { instancePath, message } of error.errors) problems.push(`${where}: ${instancePath || "/"} ${message}`);
  }
}

while (queue.length > 0) {
  const file = queue.shift();
  if (seen.has(file)) continue;
  seen.add(file);
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    problems.push(`${file}: cannot read (${error.code})`);
    continue;
  }
  const documents = parseAllDocuments(text, { uniqueKeys: true });
  for (const [index, document] of documents.entries()) {
    if (document.errors.length > 0) {
      for (const error of document.errors) problems.push(`${path.relative(process.cwd(), file)}: ${error.message}`);
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) continue;
    const hasApiVersion = typeof object === "object" && "apiVersion" in object;
    const hasKind = typeof object === "object" && "kind" in object;
    if (!hasApiVersion && !hasKind) continue;
    if (!hasApiVersion || !hasKind) {
      problems.push(`${path.relative(process.cwd(), file)} document ${index + 1}: has ${hasKind ? "kind" : "apiVersion"} but not ${hasKind ? "apiVersion" : "kind"}`);
      continue;
    }
    await validateObject(file, index, object);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(`${problems.length} problem(s) in the manifests`);
  process.exit(1);
}
if (printJson) console.log(JSON.stringify(objects));
else console.log(`${objects.length} Kubernetes objects valid`);
