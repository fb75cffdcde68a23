'use strict'
// g.toFolded(): each step names the JS function and file:line of the link
// that asked for it (the same label the CLI's `folded` prints, from
// summary.js's frameLabel) where a link stack was captured, the site
// alone where none was, and the weights are nanoseconds of frame run time.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { root, loadConsumer, nativeChain } = require('./helpers')

const nat = require(root)

// The line of helpers.js where nativeChain's callbacks submit the next hop:
// the linking frame of hops 2..n.
function submitLine () {
  const lines = fs.readFileSync(path.join(__dirname, 'helpers.js'), 'utf8').split('\n')
  const i = lines.findIndex((l) => l.includes('c.submit(queues[n], n + 1, 0)'))
  assert.ok(i >= 0, 'helpers.js still submits the next hop from the callback')
  return i + 1
}

const parse = (text) => text.trimEnd().split('\n').map((l) => {
  const i = l.lastIndexOf(' ')
  return { steps: l.slice(0, i).split(';'), weight: Number(l.slice(i + 1)) }
})

test('toFolded names the linking function and file:line of each hop with a link stack', async () => {
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  await nativeChain(c, 3, 'fold')
  const g = nat.graph(nat.drain())
  nat.disable()
  const lines = parse(g.toFolded())
  const deepest = lines.find((l) => l.steps.length === 5)
  assert.ok(deepest, `a root;start;1;2;3 stack in\n${g.toFolded()}`)
  const [top, start, h1, h2, h3] = deepest.steps
  assert.equal(top, 'root')
  assert.equal(start, 'fold:start', 'a frame begun by marks.begin has no link, so no location')
  // Hop 1 was linked by the submit in nativeChain's body, hops 2 and 3 by
  // the submit in the previous hop's callback (helpers.js, that line).
  assert.match(h1, /^fold:1 \S.* \(helpers\.js:\d+\)$/)
  const line = submitLine()
  assert.match(h2, new RegExp(`^fold:2 .+ \\(helpers\\.js:${line}\\)$`))
  assert.match(h3, new RegExp(`^fold:3 .+ \\(helpers\\.js:${line}\\)$`))
  assert.ok(!h1.endsWith(`(helpers.js:${line})`), 'hop 1 is linked from another line than the callbacks')

  // Weights: nanoseconds. Every line's weight is the sum of the run times
  // (g.frames() durations, ns) of the frames whose stack it is.
  const byLast = new Map()
  for (const f of g.frames()) {
    if (!(f.duration > 0)) continue
    byLast.set(f.site, (byLast.get(f.site) || 0) + f.duration)
  }
  let checked = 0
  for (const l of lines) {
    const site = l.steps[l.steps.length - 1].split(' ')[0]
    if (!site.startsWith('fold:')) continue
    checked++
    assert.ok(Math.abs(l.weight - byLast.get(site)) <= 1, `${site}: ${l.weight} ns vs ${byLast.get(site)}`)
  }
  assert.equal(checked, 4, 'fold:start and the three hops each end one line')
})

test('toFolded without link stacks keeps site names only', async () => {
  const c = loadConsumer()
  nat.enable({ stacks: false })
  nat.drain()
  await nativeChain(c, 2, 'bare')
  const g = nat.graph(nat.drain())
  nat.disable()
  const deepest = parse(g.toFolded()).find((l) => l.steps.length === 4)
  assert.deepEqual(deepest.steps, ['root', 'bare:start', 'bare:1', 'bare:2'])
})
