// ESM entry: the same module as the CommonJS one (one addon instance).
import { createRequire } from 'node:module'

const nat = createRequire(import.meta.url)('./index.js')

export const {
  enable, disable, isEnabled, drain, consumer, Consumer, recorder, writeTrace, readTrace, linkStacksSince, decode, stats, marks,
  graph, track, assertNoPending, addons, linkStack, formatPending, formatStack, AsyncGraph,
  EventBatch, EVENT_NAMES, EVENT_TYPES, nativeApi, constants, codes, version, renderReport, engine,
  setLinkContext, otel, channel
} = nat
export default nat
