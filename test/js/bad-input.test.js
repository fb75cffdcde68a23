'use strict'
// Every exported function rejects bad arguments with a TypeError or
// RangeError carrying a code and naming the argument; the addon, called
// directly, re-checks and throws instead of crashing.
const test = require('node:test')
const assert = require('node:assert/strict')
const { root } = require('./helpers')

const nat = require(root)
const binding = require(`${root}/lib/binding`)

test.after(() => {
  nat.disable()
  nat.drain()
})

function rejects (fn, type, code, name) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof type, `${err} should be a ${type.name}`)
    assert.equal(err.code, code)
    if (name) assert.match(err.message, new RegExp(name.replace('.', '\\.')))
    return true
  })
}

test('enable', () => {
  rejects(() => nat.enable(null), TypeError, 'NAT_EINVAL', 'options')
  rejects(() => nat.enable(5), TypeError, 'NAT_EINVAL', 'options')
  rejects(() => nat.enable([]), TypeError, 'NAT_EINVAL', 'options')
  rejects(() => nat.enable({ capacity: '1' }), TypeError, 'NAT_EINVAL', 'options.capacity')
  rejects(() => nat.enable({ capacity: 1.5 }), RangeError, 'NAT_ERANGE', 'options.capacity')
  rejects(() => nat.enable({ capacity: 1 }), RangeError, 'NAT_ERANGE', 'options.capacity')
  rejects(() => nat.enable({ capacity: 2 ** 40 }), RangeError, 'NAT_ERANGE', 'options.capacity')
  rejects(() => nat.enable({ capacity: NaN }), RangeError, 'NAT_ERANGE', 'options.capacity')
  rejects(() => nat.enable({ maxThreads: 0 }), RangeError, 'NAT_ERANGE', 'options.maxThreads')
  rejects(() => nat.enable({ maxThreads: -1 }), RangeError, 'NAT_ERANGE', 'options.maxThreads')
  rejects(() => nat.enable({ capcity: 16 }), TypeError, 'NAT_EINVAL', 'options.capcity')
  assert.equal(nat.isEnabled(), false, 'a rejected enable() does not start recording')
})

test('drain', () => {
  rejects(() => nat.drain(null), TypeError, 'NAT_EINVAL', 'options')
  rejects(() => nat.drain({ max: -1 }), RangeError, 'NAT_ERANGE', 'options.max')
  rejects(() => nat.drain({ max: 0 }), RangeError, 'NAT_ERANGE', 'options.max')
  rejects(() => nat.drain({ max: 'x' }), TypeError, 'NAT_EINVAL', 'options.max')
})

test('decode and EventBatch', () => {
  rejects(() => nat.decode('x'), TypeError, 'NAT_EINVAL', 'buffer')
  rejects(() => nat.decode(new Uint8Array(48)), TypeError, 'NAT_EINVAL', 'buffer')
  rejects(() => nat.decode(new ArrayBuffer(47)), RangeError, 'NAT_ERANGE', 'buffer.byteLength')
  const b = nat.decode(new ArrayBuffer(96))
  assert.equal(b.length, 2)
  assert.equal(b.get(0).event, 'unknown') // type 0 is no event
  rejects(() => b.get(2), RangeError, 'NAT_ERANGE', 'index')
  rejects(() => b.get(-1), RangeError, 'NAT_ERANGE', 'index')
  rejects(() => b.get('0'), TypeError, 'NAT_EINVAL', 'index')
})

test('marks', () => {
  rejects(() => nat.marks.site(), TypeError, 'NAT_EINVAL', 'name')
  rejects(() => nat.marks.site(1), TypeError, 'NAT_EINVAL', 'name')
  rejects(() => nat.marks.site(''), TypeError, 'NAT_EINVAL', 'name')
  rejects(() => nat.marks.site('a\0b'), TypeError, 'NAT_EINVAL', 'name')
  rejects(() => nat.marks.site('x'.repeat(256)), RangeError, 'NAT_ENAMETOOLONG', 'name')
  assert.equal(typeof nat.marks.site('é'.repeat(127)), 'number') // 254 bytes
  rejects(() => nat.marks.site('é'.repeat(128)), RangeError, 'NAT_ENAMETOOLONG', 'name')
  rejects(() => nat.marks.link('1'), TypeError, 'NAT_EINVAL', 'site')
  rejects(() => nat.marks.link(-1), RangeError, 'NAT_ERANGE', 'site')
  rejects(() => nat.marks.ready(0, 1.5), RangeError, 'NAT_ERANGE', 'linkID')
  rejects(() => nat.marks.ready(0, 2 ** 53), RangeError, 'NAT_ERANGE', 'linkID')
  rejects(() => nat.marks.begin(0, null), TypeError, 'NAT_EINVAL', 'readyID')
  rejects(() => nat.marks.end(undefined), TypeError, 'NAT_EINVAL', 'executeID')
  // A site index that was never interned passes lib's type check; the
  // addon rejects it.
  rejects(() => nat.marks.link(0xfffffff0), TypeError, 'NAT_EINVAL')
})

test('the addon re-checks arguments when called directly', () => {
  const junk = [undefined, null, -1, 1.5, NaN, Infinity, 2 ** 64, '', 'x', {}, [], () => {}, Symbol('s'), 10n, true]
  const calls = {
    enable: (a) => binding.enable(a, a),
    drain: (a) => binding.drain(a),
    site: (a) => binding.site(a),
    sites: (a) => binding.sites(a),
    link: (a) => binding.link(a),
    ready: (a) => binding.ready(a, a),
    begin: (a) => binding.begin(a, a),
    end: (a) => binding.end(a)
  }
  let thrown = 0
  for (const [name, call] of Object.entries(calls)) {
    for (const a of junk) {
      try {
        call(a)
      } catch (err) {
        thrown++
        assert.ok(err instanceof Error, `${name}(${String(a)}) threw a non-error`)
        assert.equal(typeof err.code, 'string', `${name}(${String(a)}) error has a code`)
      }
    }
  }
  binding.disable()
  assert.ok(thrown > 50, `only ${thrown} calls threw`)
})

test('enable() checks stacks, stackLimit and js, and assertNoPending() its test context', () => {
  const bad = [
    [{ stacks: 1 }, 'NAT_EINVAL'],
    [{ stacks: 'yes' }, 'NAT_EINVAL'],
    [{ stackLimit: 0 }, 'NAT_ERANGE'],
    [{ stackLimit: 2.5 }, 'NAT_ERANGE'],
    [{ js: 'on' }, 'NAT_EINVAL'],
    [{ js: { ignore: 'PROMISE' } }, 'NAT_EINVAL'],
    [{ js: { ignore: [1] } }, 'NAT_EINVAL'],
    [{ js: { other: true } }, 'NAT_EINVAL']
  ]
  for (const [opts, code] of bad) {
    assert.throws(() => nat.enable(opts), { code }, JSON.stringify(opts))
    assert.equal(nat.isEnabled(), false, `${JSON.stringify(opts)} did not switch recording on`)
  }
  assert.throws(() => nat.assertNoPending({}), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.assertNoPending(null), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.linkStack('1'), { code: 'NAT_EINVAL' })
})
