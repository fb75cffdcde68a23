// Types of napi-async-trace's JS surface.

/** The model's four events, plus the engine's own markers. */
export type EventName =
  | 'executionBegin'
  | 'executionEnd'
  | 'link'
  | 'ready'
  | 'lost'
  | 'abort'

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
}

/** The seed format of DESIGN.md section 2 (what toJSON() gives). */
export type SeedEvent =
  | { event: 'executionBegin'; executeID: number; readyID?: number }
  | { event: 'executionEnd'; executeID: number }
  | { event: 'link'; executeID: number; linkID: number }
  | { event: 'ready'; executeID: number; linkID: number; readyID: number }
  | { event: 'lost'; count: number; thread: number }
  | { event: 'abort'; linkID: number; readyID?: number }

/** A drained batch, decoded lazily from its ArrayBuffer. */
export class EventBatch implements Iterable<TraceEvent> {
  constructor(buffer: ArrayBuffer | null, siteName?: (index: number) => string | null)
  readonly buffer: ArrayBuffer
  readonly length: number
  /** Records dropped that this batch reports through `lost` events. */
  readonly lost: number
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
}

export function enable(options?: EnableOptions): void
export function disable(): void
export function isEnabled(): boolean
export function drain(options?: DrainOptions): EventBatch
export function decode(buffer: ArrayBuffer): EventBatch
export function stats(): Stats
export const marks: Marks
export const EVENT_NAMES: ReadonlyArray<EventName | undefined>
export const EVENT_TYPES: Readonly<Record<EventName, number>>
/** The C function table for other addons (see include/napi_async_trace.h). */
export const nativeApi: object
export const constants: Constants
export const version: string
