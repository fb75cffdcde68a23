'use strict'
// One error vocabulary: the codes of NAT_ERRNO_MAP (the C X-macro) are the
// only codes a user sees, from lib/, the addon, the header's helpers, the
// trace reader and the example; lib/errno.js and the README's table are
// generated from the map and must match what the compiler saw.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root, loadConsumer } = require('./helpers')

const nat = require(root)
const binding = require(path.join(root, 'lib', 'binding.js'))
const { natError, errorClass } = require(path.join(root, 'lib', 'errors.js'))
const { className } = require(path.join(root, 'scripts', 'gen-errors.js'))

test('lib/errno.js and the README table are what scripts/gen-errors.js makes from the header', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'gen-errors.js'), '--check'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
})

test('lib/errno.js is the map the addon was compiled with, in order', () => {
  const compiled = binding.errors.map(({ code, errno, message }) => [code, errno, message])
  const js = Object.entries(nat.codes).map(([code, { errno, message }]) => [code, errno, message])
  assert.deepEqual(js, compiled)
  assert.ok(compiled.length >= 16)
  // Append-only: the first values never move.
  assert.deepEqual(compiled.slice(0, 3).map((r) => r[1]), [-1, -2, -3])
  assert.ok(Object.isFrozen(nat.codes) && Object.isFrozen(nat.codes.NAT_EINVAL))
})

test('nat_throw (header), natError (lib) and the README agree on code, class and message for every code', () => {
  const consumer = loadConsumer()
  for (const [code, { errno, message }] of Object.entries(nat.codes)) {
    const Class = errorClass(code)
    assert.equal(Class.name, className(code), code)
    assert.throws(() => consumer.throwCode(errno), (err) => {
      assert.equal(err.constructor, Class, `${code} from C`)
      assert.equal(err.code, code)
      assert.equal(err.message, message)
      return true
    })
    const err = natError(code)
    assert.equal(err.constructor, Class, `${code} from JS`)
    assert.equal(err.code, code)
    assert.equal(err.message, message)
  }
  assert.throws(() => consumer.throwCode(-1000), { constructor: Error, code: 'NAT_EUNKNOWN', message: 'unknown error' })
  assert.throws(() => natError('ERR_SOMETHING'), /not an error code/)
})

test('the addon and lib throw the same codes (bad type, a name too long, out of range)', () => {
  assert.throws(() => binding.site(42), { constructor: TypeError, code: 'NAT_EINVAL' })
  assert.throws(() => binding.site('x'.repeat(300)), { constructor: RangeError, code: 'NAT_ENAMETOOLONG' })
  assert.throws(() => nat.marks.site(''), { constructor: TypeError, code: 'NAT_EINVAL' })
  assert.throws(() => nat.drain({ max: -1 }), { constructor: RangeError, code: 'NAT_ERANGE' })
})

test('the trace reader: NAT_EIO with the file system error as cause, NAT_EBADTRACE, NAT_EVERSION', (t) => {
  const { readTrace } = require(path.join(root, 'lib', 'trace-file.js'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-errors-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  assert.throws(() => readTrace(path.join(dir, 'missing.json')),
    (err) => err.code === 'NAT_EIO' && err.cause.code === 'ENOENT' && /no such file/.test(err.message))
  const bad = path.join(dir, 'bad.json')
  fs.writeFileSync(bad, '{ not json')
  assert.throws(() => readTrace(bad), { code: 'NAT_EBADTRACE' })
  fs.writeFileSync(bad, JSON.stringify({ format: 'other', events: [] }))
  assert.throws(() => readTrace(bad), { code: 'NAT_EBADTRACE' })
  fs.writeFileSync(bad, JSON.stringify({ format: 'napi-async-trace', formatVersion: 1e6, events: [] }))
  assert.throws(() => readTrace(bad), { code: 'NAT_EVERSION' })
})

test('no build of the addon: require() fails with NAT_ENOADDON, not a bare loader error', (t) => {
  // A copy of the package's JS without build/ or prebuilds/.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-noaddon-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true })
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'))
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(path.dirname(require.resolve('node-gyp-build/package.json', { paths: [root] })),
    path.join(dir, 'node_modules', 'node-gyp-build'))
  const r = spawnSync(process.execPath, ['-e', `
    try { require(${JSON.stringify(dir)}) } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message, cause: Boolean(err.cause) }))
    }`], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const got = JSON.parse(r.stdout)
  assert.equal(got.code, 'NAT_ENOADDON')
  assert.match(got.message, /linux-x64 and linux-arm64/)
  assert.equal(got.cause, true)
})

// Source scan: a code written by hand outside the map is the thing this
// file exists to prevent. JS: every 'NAT_E...' literal is in the table and
// no Node-style 'ERR_...' code is assigned or thrown; C: no napi_throw_*
// with a literal code (nat_throw gives the code from the map).
test('the sources use no code outside the map', () => {
  const files = []
  const walk = (dir) => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name)
      if (ent.isDirectory()) {
        if (!['node_modules', 'build', 'out'].includes(ent.name)) walk(p)
      } else if (/\.(js|mjs|c|h)$/.test(ent.name)) files.push(p)
    }
  }
  for (const d of ['lib', 'bin', 'examples', 'src', 'include', path.join('test', 'fixtures')]) {
    if (fs.existsSync(path.join(root, d))) walk(path.join(root, d))
  }
  assert.ok(files.length > 20)
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  const errorsSection = readme.slice(readme.indexOf('\n## Errors'), readme.indexOf('\n## ', readme.indexOf('\n## Errors') + 1))
  const bad = []
  for (const f of files) {
    let text = fs.readFileSync(f, 'utf8')
    const rel = path.relative(root, f)
    // Not ours: Node's own codes, thrown exactly as Node's default call_js
    // throws them where the zero-code wrapper stands in for it.
    if (rel === path.join('src', 'napi', 'wrap_tsfn.c')) text = text.replace(/"ERR_NAPI_TSFN_(GET_UNDEFINED|CALL_JS)"/g, '')
    for (const m of text.matchAll(/['"](NAT_E[A-Z]+)['"]/g)) {
      if (!Object.hasOwn(nat.codes, m[1]) && m[1] !== 'NAT_EUNKNOWN') bad.push(`${rel}: ${m[1]} is not in NAT_ERRNO_MAP`)
    }
    for (const m of text.matchAll(/code\s*[=:]\s*['"]((?!NAT_)[A-Z][A-Z_]+)['"]/g)) bad.push(`${rel}: code ${m[1]}`)
    for (const m of text.matchAll(/['"](ERR_[A-Z_]+)['"]/g)) bad.push(`${rel}: ${m[1]}`)
    for (const m of text.matchAll(/napi_throw_(?:type_|range_)?error\(\s*env,\s*"([^"]*)"/g)) bad.push(`${rel}: napi_throw_* with code "${m[1]}"`)
    // Warning codes are listed in the README's Errors section.
    for (const m of text.matchAll(/emitWarning\([\s\S]{0,400}?code: '([A-Z_]+)'/g)) {
      if (!errorsSection.includes(`\`${m[1]}\``)) bad.push(`${rel}: warning code ${m[1]} is not listed in the README's Errors section`)
    }
  }
  assert.deepEqual(bad, [])
})
