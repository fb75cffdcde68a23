'use strict'
// The program bench/record.js records: two native producer threads (the
// consumer fixture's markFlood: link + ready per item, recorded on threads
// that are not the JS thread) for `seconds`.
//   node bench/record-app.js SECONDS           two long-lived threads,
//                                              as fast as they go
//   node bench/record-app.js SECONDS churn     new threads every round
//                                              (200000 items each)
const path = require('node:path')
const root = path.join(__dirname, '..')
require(root)
const c = require(path.join(root, 'test', 'fixtures', 'consumer', 'build', 'Release', 'consumer.node'))

const seconds = Number(process.argv[2] || 60)
const churn = process.argv[3] === 'churn'
const end = Date.now() + seconds * 1000

if (!churn) {
  const h = c.markFlood('bench:producer', 2, 4294967295)
  setTimeout(() => {
    const s = c.markFloodJoin(h, true)
    process.stdout.write(JSON.stringify({ items: s.ids }) + '\n')
  }, seconds * 1000)
} else {
  let items = 0
  const round = () => {
    if (Date.now() >= end) {
      process.stdout.write(JSON.stringify({ items }) + '\n')
      return
    }
    const h = c.markFlood('bench:producer', 2, 200000)
    const wait = () => {
      const s = c.markFloodStatus(h)
      if (s.finished < 2) return setTimeout(wait, 1)
      items += c.markFloodJoin(h).ids
      setImmediate(round)
    }
    wait()
  }
  round()
}
