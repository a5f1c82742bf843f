// Import the npm test clients from $HUM_NPM_DIR (where `make test` installs them once),
// whatever directory this script runs from.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";
import os from "node:os";

const dir = process.env.HUM_NPM_DIR || path.join(os.homedir(), ".cache", "hum", "npm");
const require = createRequire(path.join(dir, "node_modules", "_"));

export async function load(name) {
  let entry;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`npm package ${name} is not installed in ${dir}; run \`make test\``);
  }
  return import(pathToFileURL(entry).href);
}
