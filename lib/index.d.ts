// Types of napi-async-trace's JS surface.

/** The model's four events, plus the engine's own markers. */
export type EventName =
  | 'executionBegin'
  | 'executionEnd'
  | 'link'
  | 'ready'
  | 'lost'
  | 'abort'
  | 'readyFailed'

/** One decoded record. IDs are process-wide; 0 is the root context. */
export interface TraceEvent {
  event: EventName | 'unknown'
  executeID: number
  linkID: number
  readyID: number
  /** Monotonic nanoseconds, the clock of process.hrtime.bigint(). */
  ts: number
  /** Small serial of the OS thread that recorded it (1, 2, ...; 0: none). */
  thread: number
  /** Serial of the Node-API env (main thread 1, Workers after). */
  env: number
  /** The `module:kind` site name, or null. */
  site: string | null
  /** Only on `lost` events: how many records of `thread` were dropped. */
  count?: number
  /** Only on `lost` events: true when the consumer that drained it lost them (its limit), not the engine. */
  consumer?: true
}

/** The seed format of DESIGN.md section 2 (what toJSON() gives). */
export type SeedEvent =
  | { event: 'executionBegin'; executeID: number; readyID?: number }
  | { event: 'executionEnd'; executeID: number }
  | { event: 'link'; executeID: number; linkID: number }
  | { event: 'ready'; executeID: number; linkID: number; readyID: number }
  | { event: 'lost'; count: number; thread: number }
  | { event: 'abort'; linkID: number; readyID?: number }
  | { event: 'readyFailed'; executeID: number; linkID: number; readyID: number }

/** A drained batch, decoded lazily from its ArrayBuffer. */
export class EventBatch implements Iterable<TraceEvent> {
  constructor(buffer: ArrayBuffer | null, siteName?: (index: number) => string | null)
  readonly buffer: ArrayBuffer
  readonly length: number
  /** Records missing from this batch (engine drops and consumer losses), from its `lost` events. */
  readonly lost: number
  /** Of lost, the records the consumer that drained it could not keep. */
  readonly consumerLost: number
  flagsAt(index: number): number
  get(index: number): TraceEvent
  typeAt(index: number): number
  eventAt(index: number): EventName | 'unknown'
  tsAt(index: number): number
  executeIDAt(index: number): number
  linkIDAt(index: number): number
  readyIDAt(index: number): number
  siteIndexAt(index: number): number
  siteAt(index: number): string | null
  envAt(index: number): number
  threadAt(index: number): number
  seed(index: number): SeedEvent
  toJSON(): SeedEvent[]
  /** One seed-format line per event. */
  toString(): string
  toObjects(): TraceEvent[]
  [Symbol.iterator](): Iterator<TraceEvent>
}

export interface EnableOptions {
  /** Records per thread ring (rounded up to a power of two). */
  capacity?: number
  /** Most thread rings at once (1..65536, default 1024). */
  maxThreads?: number
  /**
   * Capture the JS stack of every link made on this JS thread (one JS call
   * and one V8 stack capture per link). false turns it off; absent keeps it.
   */
  stacks?: boolean
  /** Most link stacks kept (default 10000); the oldest are evicted first. */
  stackLimit?: number
  /**
   * The JS resource bridge: promises, timers, I/O recorded through
   * async_hooks as sites `js:<type>`. false turns it off; absent keeps it.
   */
  js?: boolean | { ignore?: string[] }
  /** Most records drain() keeps waiting between two calls (default 1048576); the rest are counted as lost. Applies when drain()'s queue is made (the first enable() or drain()). */
  limit?: number
  /** false: this program does not read with drain(); no queue is kept for it until drain() is first called. Default true. */
  drain?: boolean
  /**
   * Zero-code tracing of unmodified Node-API addons: true rebinds the
   * addons loaded now and hooks process.dlopen for later ones; false puts
   * every rebound import back (process-wide); absent keeps it.
   */
  addons?: boolean
}

export interface ConsumerOptions {
  /** Shown in stats().consumers (at most 63 bytes kept). */
  name?: string
  /** Most records waiting (default 1048576); the rest are counted as lost. */
  limit?: number
}

export interface ConsumerStats {
  name: string
  /** Serial of the env that made it. */
  env: number
  /** Records waiting for its next drain. */
  queued: number
  limit: number
  /** Records handed to it, ever (lost markers excluded). */
  delivered: number
  /** Records it lost (past its limit, or taken and not used), ever. */
  lost: number
  open: boolean
}

/** A reader of its own: sees every event drained from the engine after it was made, whoever else reads. */
export class Consumer {
  readonly name: string
  drain(options?: DrainOptions): EventBatch
  stats(): ConsumerStats
  /** Counts n records it took but could not use as its own loss. */
  countLost(n: number): void
  close(): void
}


/** Counts for one wrapped import of an addon. */
export interface AddonImportCount {
  rebound: number
  already: number
  skipped: number
  failed: number
  /** Of rebound + already: GLOB_DAT slots (the rest are JUMP_SLOT). */
  globDat: number
}

/** One addon seen by zero-code tracing (addons()). */
export interface AddonInfo {
  path: string
  /** npm package (platform suffix dropped) or file name: the site prefix. */
  module: string
  /** 'OK' when every wrapped import reaches the engine; else why not. */
  status: 'OK' | 'NO_DYNAMIC' | 'BAD_DYNAMIC' | 'PARTIAL' | 'MPROTECT' | 'UNSUPPORTED' | 'NOT_FOUND' | string
  message: string
  errno: number
  rebound: number
  already: number
  skipped: number
  failed: number
  mprotects: number
  imports: Record<string, AddonImportCount>
  /**
   * 'enable': loaded before enable({ addons: true }); 'load': rebound by the
   * process.dlopen hook before its init ran; 'after-init': rebound right
   * after Node's dlopen (addons that register from a static constructor).
   */
  when: 'enable' | 'load' | 'after-init'
  /** False after enable({ addons: false }). */
  active: boolean
}

export interface DrainOptions {
  /** The most records to take; the rest stay for the next drain. */
  max?: number
}

export interface Stats {
  enabled: boolean
  /** Records committed, ever. */
  recorded: number
  /** Records dropped (ring full or no ring), ever; exact. */
  dropped: number
  /** Records moved out by drain(), ever (lost markers excluded). */
  drained: number
  /** Records waiting in the rings now. */
  pending: number
  capacity: number
  rings: number
  /** Threads that own a ring now. */
  threads: number
  threadsSeen: number
  ringBytes: number
  recordSize: number
  /** The last ID handed out. */
  lastId: number
  /** Sites interned (site 0, the empty one, included). */
  sites: number
  /**
   * What stamps records while they wait in the rings: 'tsc' (x86-64) or
   * 'cntvct' (AArch64), converted to process.hrtime nanoseconds at drain,
   * or 'monotonic' (clock_gettime; NAT_CLOCK=monotonic forces it).
   */
  clock: 'tsc' | 'cntvct' | 'monotonic'
  /** Link stacks held now, and evicted past stackLimit, ever. */
  stacks: number
  stacksEvicted: number
  /** The JS resource bridge is on. */
  bridge: boolean
  /** Hook calls the bridge could not record (counted, never thrown). */
  bridgeErrors: number
  /** JS resources the bridge holds now: linked and not yet run or destroyed. */
  bridgeLinks: number
  /** Promises the bridge holds continuations of, not yet resolved. */
  bridgeWaiting: number
  /** Every open consumer of the process (drain, track, recorders; any env). */
  consumers: ConsumerStats[]
}

interface StepCommon {
  id: number
  site: string | null
  thread: number
  env: number
  /** Nanoseconds (NaN when the input had no times). */
  ts: number
}

/** A callback frame (executionBegin .. executionEnd). */
export interface FrameNode extends StepCommon {
  kind: 'frame'
  readyID: number
  begin: number
  /** NaN while the frame has not ended. */
  end: number
  duration: number
}

/** A ready: readyBy is the frame that made it ready (0: a native thread or the loop). */
export interface ReadyNode extends StepCommon {
  kind: 'ready'
  linkID: number
  readyBy: number
  aborted: boolean
  /** On pending readies: the JS stack of their link, when captured. */
  stack?: string
  /** On pending readies: the frame that linked. */
  linkFrame?: number
}

/** A link: frame is the frame that made it. */
export interface LinkNode extends StepCommon {
  kind: 'link'
  frame: number
  aborted: boolean
  /** The JS stack at link time (enable({ stacks: true })). */
  stack?: string
}

export type StackStep =
  | FrameNode
  | ReadyNode
  | LinkNode
  | { kind: 'root'; id: 0 }
  | { kind: 'missing'; id: number; expected: 'frame' | 'ready' | 'link' }

export type PendingItem = (FrameNode | ReadyNode | LinkNode) & {
  /** Nanoseconds between ts and the `now` of the query. */
  age: number
  /** track(): a frame the tracked function left open (track() closed it). */
  leftOpen?: boolean
  /**
   * Items without a JS stack of their own (work a native thread linked,
   * e.g. an async work run's completion; a pool frame): the JS stack of
   * the nearest link up their chain that has one, and that link's ID.
   */
  chainStack?: string
  chainStackLinkID?: number
}

export interface LatencySummary {
  count: number
  total: number
  mean: number
  p50: number
  p99: number
  max: number
}

export interface SiteTotals {
  site: string | null
  frames: number
  /** link -> ready, ns */
  queueWait: LatencySummary
  /** ready -> executionBegin, ns */
  dispatchWait: LatencySummary
  /** executionBegin -> executionEnd, ns */
  run: LatencySummary
}

export type GraphInput = EventBatch | EventBatch[] | Iterable<Partial<TraceEvent> | SeedEvent> | { events: Iterable<Partial<TraceEvent> | SeedEvent> | EventBatch[] }

export interface GraphOptions {
  /** Where link stacks come from (default: the ones this process captured). */
  stacks?: ((linkID: number) => string | undefined) | Map<number, string>
  /** Most links + readies + frames the graph takes (default 67,108,864, at most 100,000,000). */
  maxItems?: number
}

/** One event of the Trace Event Format (Perfetto, chrome://tracing). */
export interface ChromeTraceEvent {
  name: string
  cat?: string
  /** X: a frame, s/f: a link's flow arrow, i: a ready or pending item, M: metadata. */
  ph: 'X' | 's' | 'f' | 'i' | 'M'
  /** Microseconds since the graph's first event. */
  ts?: number
  dur?: number
  /** The env (1: main thread). */
  pid: number
  /** The thread. */
  tid: number
  id?: number
  bp?: 'e'
  s?: 't' | 'p'
  args?: Record<string, unknown>
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[]
  displayTimeUnit: 'ms'
  metadata: { 'napi-async-trace': { events: number; lost: number; problems: number; firstTsNs: number } }
}

export interface ChromeTraceOptions {
  /** Pending work as instant events (default true). */
  pending?: boolean
  /** Readies as instant events on the thread that made them ready (default true). */
  readies?: boolean
}

export class AsyncGraph {
  constructor(options?: GraphOptions)
  /** Adds events (accumulating); malformed events throw with their index. */
  add(events: GraphInput): this
  setStacks(stacks: GraphOptions['stacks'] | null): this
  /** Links, readies and frames held. */
  readonly size: number
  /** Events added (lost markers included). */
  readonly events: number
  /** Records the engine dropped (from lost markers). */
  readonly lost: number
  /** Inconsistencies in the input (first 1000); problemCount is the total. */
  readonly problems: ReadonlyArray<{ index: number; message: string }>
  readonly problemCount: number
  readonly firstTs: number
  readonly lastTs: number
  readonly siteNames: string[]
  /** The async call stack of a frame, innermost first, down to root or missing. */
  stack(executeID: number): StackStep[]
  /** The sites of stack()'s frames, innermost first, ending with 'root'. */
  stackSites(executeID: number): Array<string | null>
  formatStack(executeID: number): string
  /** Links never made ready, readies never run, frames never ended; oldest first. */
  pending(options?: { now?: number; since?: number }): PendingItem[]
  aborted(): Array<LinkNode | ReadyNode>
  frames(): FrameNode[]
  frame(executeID: number): FrameNode | null
  node(id: number): FrameNode | ReadyNode | LinkNode | null
  /** The frame that requested frame executeID's work (0: root; null: unknown). */
  parent(executeID: number): number | null
  children(id: number): number[]
  readonly roots: number[]
  sites(): SiteTotals[]
  /** Frames as slices per env and thread, links as flow arrows: JSON.stringify it for Perfetto. */
  toChromeTrace(options?: ChromeTraceOptions): ChromeTrace
  /**
   * `root;site;...;site weight` lines (speedscope, flamegraph.pl), root
   * first, weights in nanoseconds of each frame's run time; a
   * step whose link has a JS stack reads `site fn (file.js:line)`.
   */
  toFolded(options?: { maxDepth?: number }): string
  /** Graphviz DOT: frames clustered by site, edges from requester to frame; past maxNodes (default 2000) the slowest are kept. */
  toDot(options?: { maxNodes?: number }): string
}

export interface TrackOptions {
  stacks?: boolean
  js?: EnableOptions['js']
  capacity?: number
  /** Most records the tracker keeps (default 1048576); past it they are counted in `lost` and a NAT_TRACK_LIMIT warning is emitted. */
  limit?: number
}

export interface TrackResult<T> {
  result: T
  pending: PendingItem[]
  graph: AsyncGraph
  /** Records the tracker could not keep (its limit); pending may then be incomplete. */
  lost: number
}

export interface Marks {
  site(name: string): number
  link(site: number): number
  ready(site: number, linkID: number): number
  begin(site: number, readyID: number): number
  end(executeID: number): void
  current(): number
}

export interface Constants {
  readonly RECORD_SIZE: number
  readonly MIN_CAPACITY: number
  readonly MAX_CAPACITY: number
  readonly DEFAULT_CAPACITY: number
  readonly SITE_NAME_MAX: number
  readonly VERSION: string
  /** The largest stackLimit accepted: a quarter of the heap limit at ~1.4 KB a stack, at most 1e6. */
  readonly MAX_STACK_LIMIT: number
}

export function enable(options?: EnableOptions): void
export function disable(): void
export function isEnabled(): boolean
export function drain(options?: DrainOptions): EventBatch
/** A consumer of its own (see Consumer). */
export function consumer(options?: ConsumerOptions): Consumer

export interface RecorderOptions {
  stacks?: boolean
  js?: EnableOptions['js']
  capacity?: number
  /** Most records waiting for the writer (default 262144); past it they are dropped and counted in the trace. */
  limit?: number
  /** Deflate chunks (default true). */
  compress?: boolean
  /** Milliseconds between writes (default 20). */
  interval?: number
  /** Extra JSON-able fields for the file's META chunk. */
  meta?: Record<string, unknown>
  /** Milliseconds to wait for the writer's Worker to start (default 10000). */
  startTimeout?: number
}

export interface RecorderSummary {
  delivered: number
  lost: number
  chunks: number
  bytes: number
  writeErrors: number
  lastWriteError: string | null
}

export interface Recorder {
  readonly file: string
  /** Writes the last chunks and the END chunk; blocks until done (usable in a process 'exit' listener). null when the writer did not answer in time. */
  stop(info?: { reason?: string; exitCode?: number; stats?: unknown }, timeoutMs?: number): RecorderSummary | { error: string } | null
}

/** Records this process into a stream trace file (docs/trace-format.md) while it runs, from a Worker of its own. */
export function recorder(file: string, options?: RecorderOptions): Recorder
/** Writes events (an EventBatch, an array of them, or event objects) as a stream trace file that the CLI and graph() read. */
export function writeTrace(file: string, events: EventBatch | EventBatch[] | TraceEvent[] | { events: TraceEvent[] }, options?: { stacks?: Map<number, string> | ((linkID: number) => string | undefined); compress?: boolean; meta?: Record<string, unknown> }): { file: string; events: number; bytes: number }
/** Reads a trace file of either format (JSON, or stream: whole, up to its last complete chunk); pass trace and stacks to graph(). */
export function readTrace(file: string): {
  trace: { format: string; formatVersion: number; events: EventBatch[] | TraceEvent[]; meta?: Record<string, unknown>; end?: Record<string, unknown> | null; truncated?: { offset: number; reason: string } | null; stats?: unknown }
  stacks: Map<number, string>
}
/** Link stacks captured since cursor (0 first, then the returned cursor), for writers that go along. */
export function linkStacksSince(cursor: number): { cursor: number; stacks: Array<[number, string]> }
export function decode(buffer: ArrayBuffer): EventBatch
export function stats(): Stats
export const marks: Marks
export function graph(events?: GraphInput, options?: GraphOptions): AsyncGraph
/** Runs fn in a frame of its own; resolves with its result and what it left pending. */
export function track<T>(fn: () => T | Promise<T>, options?: TrackOptions): Promise<TrackResult<T>>
/** node:test: fails test t (in an after hook) when it leaves async work pending. */
/** Each addon seen by zero-code tracing, with what was rebound or why not. */
export function addons(): AddonInfo[]
export function assertNoPending(t: { after(fn: () => void): void; name?: string }, options?: TrackOptions): void
/** The JS stack captured when linkID was made, or undefined. */
export function linkStack(linkID: number): string | undefined
export function formatPending(items: PendingItem[]): string
export function formatStack(steps: StackStep[]): string
/** renderReport's options (README, "An HTML report to open anywhere"). */
export interface ReportOptions {
  title?: string
  /** Most frames embedded (default 250000): the slowest with their whole stacks. */
  maxFrames?: number
  generated?: string
  /** IDs left out of the pending work (e.g. the frame rendering the report). */
  exclude?: Iterable<number>
  /** What the graph itself leaves out (a sampled or aggregated trace); shown in the header. */
  omitted?: { events?: number; frames?: number; reason?: string } | null
}
/** One self-contained HTML page (canvas timeline, thread-pool view, async stacks, site latencies, pending groups) that needs no network to view. */
export function renderReport(graph: AsyncGraph, options?: ReportOptions): string
export const EVENT_NAMES: ReadonlyArray<EventName | undefined>
export const EVENT_TYPES: Readonly<Record<EventName, number>>
/** The C function table for other addons (see include/napi_async_trace.h). */
export const nativeApi: object
export const constants: Constants

// errors:begin (generated by scripts/gen-errors.js from NAT_ERRNO_MAP)
export type NatErrorCode =
  | 'NAT_EINVAL'
  | 'NAT_ENOMEM'
  | 'NAT_EWRONGTHREAD'
  | 'NAT_ECLOSING'
  | 'NAT_EFULL'
  | 'NAT_EALREADY'
  | 'NAT_ENOTLOADED'
  | 'NAT_EVERSION'
  | 'NAT_ENAPI'
  | 'NAT_EFRAME'
  | 'NAT_EBUSY'
  | 'NAT_ENAMETOOLONG'
  | 'NAT_ERANGE'
  | 'NAT_EBADTRACE'
  | 'NAT_EIO'
  | 'NAT_ENOADDON'
  | 'NAT_ENOENT'
  | 'NAT_ECANCELED'
// errors:end
/** Every error napi-async-trace throws: a TypeError (NAT_EINVAL), a
 * RangeError (NAT_ERANGE, NAT_ENAMETOOLONG) or an Error, with `code`. */
export interface NatError extends Error {
  code: NatErrorCode
}
/** The error codes a user can see, with their C value and message. */
export const codes: Readonly<Record<NatErrorCode, Readonly<{ errno: number, message: string }>>>
export const version: string
/**
 * The copy of the package that runs the engine in this env: the first one
 * loaded. A later copy (a cleared require cache, another path or version)
 * returns that copy's module; one of another version warns once
 * (code NAT_SECOND_COPY).
 */
export const engine: { readonly version: string, readonly path: string }

// ---- OpenTelemetry and diagnostics_channel (lib/otel.js, lib/channel.js) --

/** A TracerProvider of @opentelemetry/api (only getTracer is used). */
export interface OtelTracerProvider {
  getTracer(name: string, version?: string): unknown
}

export interface OtelEnableOptions {
  /** Where the spans go: the application's own provider. */
  tracerProvider: OtelTracerProvider
  /** The @opentelemetry/api module (default: require('@opentelemetry/api')). */
  api?: object
  /** Milliseconds between the bridge's drains (default 1000; 0: only flush()). */
  interval?: number
  /** Items linked outside any span make no span (default true). */
  requireParentSpan?: boolean
  /** Register the active span's traceparent as link context (default true). */
  traceparent?: boolean
  /** Most items (and captured contexts) kept open at once (default 100000). */
  maxOpen?: number
  /** Most records waiting for the bridge's next drain (default 1048576). */
  limit?: number
}

export interface OtelStats {
  enabled: boolean
  started?: number
  ended?: number
  aborted?: number
  skipped?: number
  evicted?: number
  lost?: number
  failed?: number
  open?: number
  linkContexts?: number
}

/** The span bridge: one span per native work item. */
export const otel: {
  enable(options: OtelEnableOptions): void
  /** Builds spans of everything recorded so far; returns how many ended. */
  flush(): number
  disable(): void
  stats(): OtelStats
  readonly enabled: boolean
}

/** The context object of one native work item on the TracingChannel. */
export interface WorkChannelContext {
  linkID: number
  site: string | null
  executeID: number
  error?: NatError
}

/** One channel of the TracingChannel (a diagnostics_channel Channel). */
export interface WorkSubChannel {
  readonly name: string | symbol
  readonly hasSubscribers: boolean
  subscribe(onMessage: (ctx: WorkChannelContext, name: string | symbol) => void): void
  unsubscribe(onMessage: (ctx: WorkChannelContext, name: string | symbol) => void): boolean
}

type WorkChannelHandlers = Partial<Record<'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error',
  (ctx: WorkChannelContext, name: string | symbol) => void>>

/**
 * diagnostics_channel.tracingChannel('napi-async-trace:work'), or null
 * where Node has no TracingChannel.
 */
export const channel: {
  readonly start: WorkSubChannel
  readonly end: WorkSubChannel
  readonly asyncStart: WorkSubChannel
  readonly asyncEnd: WorkSubChannel
  readonly error: WorkSubChannel
  readonly hasSubscribers: boolean
  subscribe(handlers: WorkChannelHandlers): void
  unsubscribe(handlers: WorkChannelHandlers): boolean
} | null

/**
 * Registers fn() -> a W3C traceparent (or undefined), asked at each link on
 * the JS thread and readable by native threads (task_traceparent,
 * work_traceparent); null unregisters.
 */
export function setLinkContext(fn: (() => string | undefined | null) | null): void
