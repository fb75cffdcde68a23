'use strict'
// The report's browser code (lib/report/*.js and lib/walk.js, which the
// page inlines) linted with ESLint for the browser: the recommended rules,
// and only browser globals plus the CommonJS names the page's module table
// provides. A Node-only name (process, Buffer, __dirname) in that code
// would break the offline page; this catches it.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { root } = require('./helpers')

const { Linter } = require('eslint')
const { builtinRules } = require('eslint/use-at-your-own-risk')

// What the page's script may use: the browser's globals it needs and the
// module table's require/module/exports. Listed, not taken wholesale from a
// globals package, so a new global is a decision.
const BROWSER_GLOBALS = [
  'window', 'document', 'location', 'history', 'getComputedStyle', 'requestAnimationFrame', 'performance',
  'Map', 'Set', 'Promise', 'Math', 'JSON', 'Number', 'String', 'Object', 'Array', 'Infinity', 'NaN', 'isFinite',
  'Int8Array', 'Int32Array', 'Float64Array', 'Uint8Array'
]
const globals = Object.fromEntries([...BROWSER_GLOBALS.map((g) => [g, 'readonly']),
  ['require', 'readonly'], ['module', 'writable'], ['exports', 'writable']])

const recommended = Object.fromEntries([...builtinRules]
  .filter(([, rule]) => rule.meta && rule.meta.docs && rule.meta.docs.recommended)
  .map(([name]) => [name, 'error']))

const config = [{
  languageOptions: { ecmaVersion: 2022, sourceType: 'commonjs', globals },
  rules: { ...recommended, 'no-undef': 'error', 'no-unused-vars': ['error', { caughtErrors: 'none' }], 'no-var': 'error', 'prefer-const': 'error', eqeqeq: ['error', 'always'] }
}]

const files = [path.join(root, 'lib', 'walk.js'),
  ...fs.readdirSync(path.join(root, 'lib', 'report')).filter((f) => f.endsWith('.js')).map((f) => path.join(root, 'lib', 'report', f))]

test('the browser code of the report passes ESLint (recommended rules, browser globals only)', () => {
  assert.ok(files.length >= 8, `${files.length} files`)
  const linter = new Linter()
  const problems = []
  for (const file of files) {
    for (const m of linter.verify(fs.readFileSync(file, 'utf8'), config, { filename: file })) {
      problems.push(`${path.relative(root, file)}:${m.line}:${m.column} ${m.ruleId || ''} ${m.message}`)
    }
  }
  assert.deepEqual(problems, [])
})

test('the lint configuration catches what it is there for', () => {
  const linter = new Linter()
  const rules = (code) => linter.verify(code, config).map((m) => m.ruleId)
  assert.deepEqual(rules("'use strict'\nprocess.exit(1)\n"), ['no-undef'], 'a Node-only global')
  assert.deepEqual(rules("'use strict'\nconst a = 1\n"), ['no-unused-vars'])
  assert.deepEqual(rules("'use strict'\nif (window == null) document.title = ''\n"), ['eqeqeq'])
  assert.deepEqual(rules("'use strict'\nmodule.exports = { x: requestAnimationFrame }\n"), [])
})
