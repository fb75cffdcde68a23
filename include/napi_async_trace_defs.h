/*
 * napi-async-trace: definitions shared by the engine, its core and the addons
 * that use it. Plain C, no Node-API: the core (src/core) and its Check tests
 * include this file without node_api.h. Addons include napi_async_trace.h,
 * which includes this one.
 *
 * Everything here is part of the public ABI: values are never renumbered,
 * new ones are only appended.
 */
#ifndef NAPI_ASYNC_TRACE_DEFS_H
#define NAPI_ASYNC_TRACE_DEFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Error codes. Every function of the engine that can fail returns 0 or one of
 * these negative numbers. When a function that takes a callback returns an
 * error, the callback will never be called.
 */
#define NAT_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, -1, "invalid argument")                                         \
  XX(ENOMEM, -2, "out of memory")                                            \
  XX(EWRONGTHREAD, -3, "called from a thread that may not call this")        \
  XX(ECLOSING, -4, "the handle is released, aborted or its env is closing")  \
  XX(EFULL, -5, "the queue is full")                                         \
  XX(EALREADY, -6, "the task was already made ready, run or cancelled")      \
  XX(ENOTLOADED, -7, "napi-async-trace is not loaded in this process")       \
  XX(EVERSION, -8, "napi-async-trace is too old or incompatible")           \
  XX(ENAPI, -9, "a Node-API call failed")                                    \
  XX(EFRAME, -10, "frame begin/end calls do not nest")                       \
  XX(EBUSY, -11, "the work is running and can no longer be cancelled")       \
  XX(ENAMETOOLONG, -12, "the site name is longer than NAT_SITE_NAME_MAX")    \
  XX(ERANGE, -13, "a number is out of range")                                \
  XX(EBADTRACE, -14, "not a napi-async-trace trace file, or a damaged one")  \
  XX(EIO, -15, "a file could not be read or written")                        \
  XX(ENOADDON, -16, "no build of the native addon loads on this platform")  \
  XX(ENOENT, -17, "nothing was captured for this item")                     \
  XX(ECANCELED, -18, "the work item was cancelled or aborted before it ran")

/*
 * The code a user sees: JS errors thrown by the engine, by lib/ and by
 * addons that use this header carry `code` "NAT_" + name ("NAT_EINVAL").
 * lib/errno.js is generated from this map (scripts/gen-errors.js) and a
 * test checks it against the map compiled into the addon. In JS, NAT_EINVAL
 * is thrown as a TypeError, NAT_ERANGE and NAT_ENAMETOOLONG as RangeErrors,
 * every other code as an Error.
 */

typedef enum {
#define NAT__ERR_ENUM(name, value, msg) NAT_##name = (value),
  NAT_ERRNO_MAP(NAT__ERR_ENUM)
#undef NAT__ERR_ENUM
  /* The smallest code: the last one of the map, which only grows
   * downwards. */
  NAT__ERR_MIN = NAT_ECANCELED
} nat_errno_t;

/* The code a user sees for `err` ("NAT_EINVAL"), "NAT_EUNKNOWN" for a
 * value that is not in the map. Any thread; the strings are static. */
static inline const char* nat_err_code(int err) {
  switch (err) {
#define NAT__ERR_CODE(name, value, msg) \
  case NAT_##name:                       \
    return "NAT_" #name;
    NAT_ERRNO_MAP(NAT__ERR_CODE)
#undef NAT__ERR_CODE
    default:
      return "NAT_EUNKNOWN";
  }
}

/* A readable message for `err` (the map's third column), "unknown error"
 * for a value that is not in the map. Any thread; the strings are static. */
static inline const char* nat_err_message(int err) {
  switch (err) {
#define NAT__ERR_MESSAGE(name, value, msg) \
  case NAT_##name:                          \
    return msg;
    NAT_ERRNO_MAP(NAT__ERR_MESSAGE)
#undef NAT__ERR_MESSAGE
    default:
      return "unknown error";
  }
}

/* Longest site name in bytes, not counting the terminating NUL. */
#define NAT_SITE_NAME_MAX 255

/*
 * Event types, as stored in a record's `type` field and as drained into JS.
 * The first four are the events of the continuation model (DESIGN.md 2).
 */
typedef enum {
  NAT_EV_EXECUTION_BEGIN = 1, /* execute_id (new), ready_id (0 for root) */
  NAT_EV_EXECUTION_END = 2,   /* execute_id */
  NAT_EV_LINK = 3,            /* execute_id, link_id (new) */
  NAT_EV_READY = 4,           /* execute_id, link_id, ready_id (new) */
  NAT_EV_LOST = 5,            /* link_id holds the number of records of
                                 `thread` lost since the previous drain */
  NAT_EV_ABORT = 6,           /* link_id (and ready_id, when it was made
                                 ready) of a task that will never run: it
                                 was cancelled, its queue aborted or its env
                                 torn down */
  NAT_EV_READY_FAILED = 7     /* execute_id, link_id, ready_id: that ready
                                 was recorded but the task could not be
                                 queued (the queue was full); the link is
                                 still live and may be made ready again */
} nat_event_type_t;

/*
 * One record, 48 bytes, the unit of the rings and of the drained buffer.
 * IDs come from one process-wide counter; 0 is the root context.
 * `thread` is a small serial number given to each OS thread when it first
 * records (1, 2, ...; never reused in a process). `env` is the serial of the
 * Node-API env (main thread or a Worker) the event belongs to, 0 for none.
 * `site` is the index of an interned `module:kind` name, 0 for none.
 * The JS side reads drained records through typed-array views at these
 * offsets (lib/events.js); keep the two in step.
 */
typedef struct nat_record_s {
  uint64_t ts;         /* monotonic nanoseconds */
  uint64_t execute_id; /* offset 8 */
  uint64_t link_id;    /* offset 16 */
  uint64_t ready_id;   /* offset 24 */
  uint32_t site;       /* offset 32 */
  uint32_t env;        /* offset 36 */
  uint32_t thread;     /* offset 40 */
  uint16_t type;       /* offset 44, a nat_event_type_t */
  uint16_t flags;      /* offset 46, NAT_RECORD_FLAG_* (0 in the rings) */
} nat_record_t;

/* On a NAT_EV_LOST record: the records were lost by one consumer of the
 * stream (its queue was full, lib/ drain and track limits), not by the
 * engine; `thread` is 0 and every other consumer still has them. */
#define NAT_RECORD_FLAG_CONSUMER 1

#define NAT_RECORD_SIZE 48

#ifdef __cplusplus
}
#endif

#endif /* NAPI_ASYNC_TRACE_DEFS_H */
