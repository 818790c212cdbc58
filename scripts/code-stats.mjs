#!/usr/bin/env node
// Sizes that say whether the code keeps its shape: the longest functions and the largest files
// under src/ (lines, as written). Used for the before/after figures of refactoring notes.
// Usage: node scripts/code-stats.mjs [--top N] [folder]
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 10;
const root = args[0] ?? 'src';

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const functions = [];
const sizes = [];
for (const file of files(root)) {
  const text = fs.readFileSync(file, 'utf8');
  sizes.push({ file, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) });
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name ? node.name.getText() : ts.isArrowFunction(node) || ts.isFunctionExpression(node) ? '(anonymous)' : '?';
      functions.push({ where: `${file}:${start + 1}`, name, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
functions.sort((a, b) => b.lines - a.lines);
sizes.sort((a, b) => b.lines - a.lines);
console.log(`longest functions in ${root}/:`);
for (const f of functions.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.where}`);
console.log(`largest files in ${root}/:`);
for (const f of sizes.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}`);
