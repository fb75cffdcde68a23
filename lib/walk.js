'use strict'
// The async call stack walk of the model (DESIGN.md section 2), written once
// and used by both sides: AsyncGraph#stack in Node (over the graph's columns)
// and the HTML report in the browser (over the embedded data; the report
// inlines this file into its page). It knows nothing about where the nodes
// live: `source` hands them over by ID.
//
//   source.frame(id)  -> a step object of kind 'frame' with `readyID`, or
//                        undefined when frame `id` is not there
//   source.ready(id)  -> a step of kind 'ready' with `linkID`, or undefined
//   source.link(id)   -> a step of kind 'link' with `frame` (the frame that
//                        linked), or undefined
//
// The walk goes frame -> the ready that dispatched it -> the link it made
// ready -> the frame that linked -> ... -> the root (frame 0), innermost
// first. When the chain leaves the data it ends with
// { kind: 'missing', id, expected }. Every hop must go to a strictly smaller
// ID (the engine's IDs come from one counter, and a later event can only
// name an earlier one); a hop that does not counts as missing, so no input,
// however hand-edited, can make the walk loop.

/**
 * The async call stack of frame `id`, innermost first, ending with a step
 * of kind 'root' (id 0) or 'missing'.
 */
function walkStack (source, id) {
  const steps = []
  let bound = Infinity
  for (;;) {
    if (id === 0) { steps.push({ kind: 'root', id: 0 }); break }
    const frame = id < bound ? source.frame(id) : undefined
    if (frame === undefined) { steps.push({ kind: 'missing', id, expected: 'frame' }); break }
    steps.push(frame)
    const readyID = frame.readyID
    if (readyID === 0) { steps.push({ kind: 'root', id: 0 }); break }
    const ready = readyID < id ? source.ready(readyID) : undefined
    if (ready === undefined) { steps.push({ kind: 'missing', id: readyID, expected: 'ready' }); break }
    steps.push(ready)
    const linkID = ready.linkID
    const link = linkID < readyID ? source.link(linkID) : undefined
    if (link === undefined) { steps.push({ kind: 'missing', id: linkID, expected: 'link' }); break }
    steps.push(link)
    bound = linkID
    id = link.frame
  }
  return steps
}

module.exports = { walkStack }
