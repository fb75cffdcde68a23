/*
 * napi_async_trace.h: the C ABI of napi-async-trace for other addons.
 *
 * Node loads addons with RTLD_LOCAL, so an addon cannot link to our symbols.
 * Instead the engine publishes one `static const nat_api_t` table, as a
 * Node-API External, on `require('napi-async-trace').nativeApi` and on
 * `globalThis[Symbol.for('napi-async-trace:api')]`. An addon includes only
 * this header and calls nat_import() from its module init (after
 * `require('napi-async-trace')` has run in that thread):
 *
 *     static const nat_api_t* nat;
 *     NAPI_MODULE_INIT() {
 *       if (nat_import(env, &nat) != 0) return NULL;  // a JS error is pending
 *       ...
 *     }
 *
 * Versioning: the table starts with its size and is only ever appended to;
 * each entry says `@since` which ABI minor added it. nat_import() checks a
 * magic, the ABI major and that the engine's table is at least as large as
 * the one this header describes (see nat_import_min() to accept older
 * engines).
 *
 * Threads: every entry says which threads may call it.
 * - "JS thread" means the thread of a Node.js env (the main thread or a
 *   Worker's) on which napi-async-trace has been required. Entries that
 *   record in "the current frame" use that thread's frame stack.
 * - "any thread" means any thread, including threads Node does not know.
 * Errors are the negative nat_errno_t values of napi_async_trace_defs.h;
 * calling a JS-thread-only entry on another thread returns NAT_EWRONGTHREAD.
 * While recording is off the marks return 0 and hand out ID 0.
 *
 * The root frame: ID 0 is the root context (program start, and any code
 * outside a traced callback frame, such as a native thread). When
 * recording is enabled outside any traced frame, the current turn of the
 * event loop becomes frame 0 (executionBegin 0 then, executionEnd 0 when
 * the turn ends): links made in it belong to the root.
 */
#ifndef NAPI_ASYNC_TRACE_H
#define NAPI_ASYNC_TRACE_H

#include <node_api.h>
#include <string.h>

#include "napi_async_trace_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NAT_ABI_MAJOR 1
#define NAT_ABI_MINOR 1
#define NAT_API_MAGIC 0x4e415431u /* "NAT1" */
#define NAT_API_SYMBOL "napi-async-trace:api"

/* Bytes of a W3C `traceparent` header value with its NUL:
 * "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>" (55 + 1). */
#define NAT_TRACEPARENT_SIZE 56

/* An event ID from the process-wide counter; 0 is the root context. */
typedef uint64_t nat_id_t;

/*
 * A site: an interned `module:kind` name bound to the env that created it.
 * A plain value, copied freely and usable from any thread.
 */
typedef struct nat_site_s {
  uint32_t index; /* interned name, >= 1 */
  uint32_t env;   /* serial of the env that created it */
} nat_site_t;

/* ---- tracked queues (handles) and their tasks (requests) ---------------- */

/* A tracked queue: the engine's own queue with the semantics of a
 * napi_threadsafe_function (not built on one), whose every work item is one
 * link, one ready and one execution frame. Opaque. */
typedef struct nat_queue_s nat_queue_t;
/* One work item of a queue, from link to dispatch. Opaque. */
typedef struct nat_task_s nat_task_t;

/*
 * Runs on the queue's JS thread for each task, inside the task's execution
 * frame and its async context (the requester's: AsyncLocalStorage and
 * async_hooks see the frame that linked it). `js_cb` is the queue's
 * function (NULL when it has none), `context` the queue's, `data` what was
 * passed to queue_ready. Never called with env == NULL: tasks that will
 * not run go to `drop` instead.
 */
typedef void (*nat_queue_call_js_t)(napi_env env, napi_value js_cb,
                                    void* context, void* data);
/*
 * A task that was made ready will never run (the queue was aborted or its
 * env torn down): free `data`. Runs on the queue's JS thread, or on the
 * thread whose queue_ready call failed with NAT_ECLOSING; touches no JS.
 */
typedef void (*nat_queue_drop_t)(void* context, void* data);
/* The queue is gone (last release, abort or env teardown): JS thread,
 * once. `env` may be used for cleanup but not to call into JS. */
typedef void (*nat_queue_finalize_t)(napi_env env, void* finalize_data,
                                     void* context);

/* Per-queue flags. */
#define NAT_QUEUE_SHARED_CONTEXT 1u /* one async context for every task:
                                       cheaper, tasks see the context of the
                                       frame that created the queue */

typedef struct nat_queue_options_s {
  /* sizeof(nat_queue_options_t); fields are only appended. */
  size_t struct_size;
  /* `module:kind`, 1..NAT_SITE_NAME_MAX bytes: the site of every event of
   * the queue and the async_hooks type of its tasks. */
  const char* name;
  /* The JS function passed to call_js, or NULL. */
  napi_value func;
  /* Most tasks waiting for dispatch, 0 for no limit (as tsfn). */
  size_t max_queue_size;
  /* Threads that start with a reference (as tsfn), 1..INT64_MAX
   * (NAT_EINVAL outside). Each gives its reference back with
   * queue_release once. */
  size_t initial_thread_count;
  uint32_t flags;
  void* context;
  /* NULL: calls func with no arguments. */
  nat_queue_call_js_t call_js;
  nat_queue_drop_t drop;
  nat_queue_finalize_t finalize;
  void* finalize_data;
} nat_queue_options_t;

/* ---- tracked async work -------------------------------------------------- */

/* The napi_create_async_work shape, tracked: each queued run is one link
 * (in the frame that queued it), one ready (when execute returns on the
 * pool) and one execution frame around complete. Opaque handle. */
typedef struct nat_work_s nat_work_t;

/* On a libuv pool thread; touches no JS. */
typedef void (*nat_work_execute_t)(void* data);
/* On the JS thread, in the run's frame and the requester's async context.
 * status is napi_ok, or napi_cancelled after work_cancel (then no frame is
 * recorded: the run is reported with an abort event). */
typedef void (*nat_work_complete_t)(napi_env env, napi_status status,
                                    void* data);

typedef struct nat_work_options_s {
  size_t struct_size; /* sizeof(nat_work_options_t) */
  const char* name;   /* `module:kind` */
  nat_work_execute_t execute;
  nat_work_complete_t complete;
  void* data;
} nat_work_options_t;

typedef struct nat_api_s {
  /* Size in bytes of the engine's table. @since 1.0 */
  uint32_t size;
  /* NAT_API_MAGIC. @since 1.0 */
  uint32_t magic;
  /* The engine's ABI version. @since 1.0 */
  uint32_t abi_major;
  uint32_t abi_minor;
  /* The package version, e.g. "0.1.0". @since 1.0 */
  const char* version;

  /* A readable message / the name ("EINVAL") of an error code; never NULL.
   * Any thread. @since 1.0 */
  const char* (*strerror)(int err);
  const char* (*err_name)(int err);

  /* Non-zero while recording. A relaxed load: any thread. @since 1.0 */
  int (*enabled)(void);

  /* Interns `name` (`module:kind`, 1..NAT_SITE_NAME_MAX bytes) as a site of
   * the calling thread's env. JS thread. @since 1.0 */
  int (*site)(const char* name, nat_site_t* out);

  /*
   * Manual marks, for addons that dispatch through their own uv_async_t.
   * @since 1.0
   *
   * link: records `link` and stores the new link ID in *link_id. On a JS
 *   thread the link belongs to that thread's current frame, on any other
 *   thread to the root (0). Any thread.
 * link_from: as link, attributed to the frame `execute_id` (the frame that
 *   created the queue, say). Any thread.
 * ready: records `ready` of `link_id`; the frame making it ready is the
   *   current frame on a JS thread, 0 elsewhere. Any thread.
   * frame_begin: records `executionBegin` for `ready_id` and pushes the new
   *   frame on the thread's frame stack. JS thread.
   * frame_end: records `executionEnd` and pops; `execute_id` must be the
   *   innermost open frame (NAT_EFRAME otherwise). JS thread.
   * current_frame: the innermost open frame's ID, 0 at the root. JS thread.
   */
  int (*link)(nat_site_t site, nat_id_t* link_id);
  int (*link_from)(nat_site_t site, nat_id_t execute_id, nat_id_t* link_id);
  int (*ready)(nat_site_t site, nat_id_t link_id, nat_id_t* ready_id);
  int (*frame_begin)(nat_site_t site, nat_id_t ready_id, nat_id_t* execute_id);
  int (*frame_end)(nat_id_t execute_id);
  int (*current_frame)(nat_id_t* execute_id);

  /*
   * Tracked queues. @since 1.0
   *
   * queue_create: JS thread. Creates the queue (a uv_async_t on the env's
   *   loop, ref'd like a threadsafe function's, and a lock-free FIFO;
   *   each dispatched task runs in its own outermost callback scope, at
   *   most 1,000 per loop iteration) and, unless
   *   NAT_QUEUE_SHARED_CONTEXT, makes tasks linked on the JS thread carry a
   *   napi_async_context of their own (napi_async_init in the linking
   *   frame). The resource object Node's async_hooks sees has hasRef(),
   *   true while the queue keeps the loop alive.
   * queue_link: any thread. Records `link` and returns a task. On the JS
   *   thread the link belongs to the current frame (and the task gets its
   *   own async context); on any other thread to the frame that created
   *   the queue (and the task uses the queue's shared context).
   *   NAT_ECLOSING after the last release or an abort. It needs no
   *   reference of the caller's (the task it returns is one), only a
   *   valid handle: one the caller holds a reference or a task of, or,
   *   on the JS thread, one whose finalize has not run.
   * queue_ready: any thread that holds a reference to the queue (the task
   *   counts as one). Records `ready` and enqueues the task with `data`;
   *   `mode` is napi_tsfn_blocking or napi_tsfn_nonblocking. The ready
   *   is recorded before the enqueue, so a drain in or after the callback
   *   always holds it. Errors:
   *   NAT_EFULL (non-blocking, queue full: the ready is taken back with a
   *   `readyFailed` record, the task may be made ready again), NAT_ECLOSING (the queue is closing: the task is
   *   aborted and freed, `drop` is not called, data stays the caller's),
   *   NAT_EALREADY (this task was made ready before and is still queued:
   *   see below). A
   *   blocking ready waits while the queue is full, except on the JS
   *   thread, where it would deadlock: there it returns NAT_EFULL. Abort
   *   and teardown wake every blocked caller (NAT_ECLOSING).
   * task_cancel: any thread. A linked task that will never be made ready:
   *   records `abort` and frees it. NAT_EALREADY if it was made ready and
   *   is still queued.
   *   Never blocks, on any thread (a task's own async context is sent to
   *   the JS thread to be destroyed there).
   *   Task handles, like a tsfn's data, are consumed: a task is freed once
   *   it has run, was dropped, was cancelled, or its ready failed with
   *   NAT_ECLOSING. So NAT_EALREADY promises only this: the task was made
   *   ready and has not been dispatched yet (the caller can know that,
   *   e.g. on the JS thread before returning to the loop). A task that
   *   ran, was dropped or cancelled is gone: passing it again is undefined
   *   behaviour, not NAT_EALREADY.
   * queue_acquire / queue_release: any thread, as tsfn. Every reference
   *   (initial_thread_count, each acquire) is given back by exactly one
   *   queue_release, also after an abort, a NAT_ECLOSING answer or the
   *   queue's finalize: the engine keeps the queue's memory until the last
   *   reference and the last task are given back, so a thread that holds
   *   one may always call release (and gets 0). After the last release
   *   the queued tasks still run, then the queue finalizes. A release with
   *   no reference left returns NAT_EINVAL and changes nothing.
   * queue_abort: any thread, with or without a reference of the caller's.
   *   Closes the queue: tasks still queued are dropped (an `abort` event
   *   each, `drop` called, all before `finalize`); later links and
   *   readies fail with NAT_ECLOSING, and blocked readies wake. Unlike
   *   napi_release_threadsafe_function(napi_tsfn_abort) it gives back NO
   *   reference (the engine cannot know whether the caller holds one):
   *   a thread that holds one still calls queue_release.
   * queue_ref / queue_unref: JS thread, as napi_ref/unref_threadsafe_function.
   * task_ids: any thread that owns the task (before a successful ready).
   *   Its link ID, and its ready ID (0 until ready).
   */
  int (*queue_create)(napi_env env, const nat_queue_options_t* options,
                      nat_queue_t** queue);
  int (*queue_link)(nat_queue_t* queue, nat_task_t** task);
  int (*queue_ready)(nat_task_t* task, void* data,
                     napi_threadsafe_function_call_mode mode);
  int (*task_cancel)(nat_task_t* task);
  int (*queue_acquire)(nat_queue_t* queue);
  int (*queue_release)(nat_queue_t* queue);
  int (*queue_abort)(nat_queue_t* queue);
  int (*queue_ref)(napi_env env, nat_queue_t* queue);
  int (*queue_unref)(napi_env env, nat_queue_t* queue);
  int (*task_ids)(const nat_task_t* task, nat_id_t* link_id,
                  nat_id_t* ready_id);

  /*
   * Tracked async work. @since 1.0
   *
   * work_create: JS thread. The handle lives until work_delete.
   * work_queue: JS thread. Records `link` in the current frame and queues
   *   one run; NAT_EALREADY while a run is queued or running.
   * work_cancel: JS thread. A run not yet started is cancelled: complete
   *   gets napi_cancelled and an `abort` event is recorded. NAT_EBUSY
   *   while the run is on a pool thread or done there with complete still
   *   to come (it will get napi_ok). NAT_EALREADY when there is no run to
   *   cancel: never queued, already cancelled, or completed.
   * work_delete: JS thread. Not while a run is queued or running
   *   (NAT_EBUSY).
   */
  int (*work_create)(napi_env env, const nat_work_options_t* options,
                     nat_work_t** work);
  int (*work_queue)(nat_work_t* work);
  int (*work_cancel)(nat_work_t* work);
  int (*work_delete)(nat_work_t* work);

  /*
   * The requester's W3C trace context, for native code that sends its own
   * network requests (a database or RPC client): put it in their
   * `traceparent` header and the remote side continues the trace. @since 1.1
   *
   * Captured at link time, on the JS thread, only while the program has a
   * link-context provider registered (`nat.setLinkContext(fn)`, or the
   * OpenTelemetry bridge `nat.otel.enable()`): nothing is asked or stored
   * otherwise. Writes NAT_TRACEPARENT_SIZE bytes (NUL-terminated, version
   * 00, lowercase) into `buf` and returns 0, or NAT_ENOENT when nothing
   * was captured (no provider, no active trace, or the task was linked on
   * a native thread), NAT_EINVAL for NULL arguments.
   * task_traceparent: any thread that owns the task (as task_ids).
   * work_traceparent: the run queued or running now: from `execute` on the
   *   pool thread or from `complete`, or the JS thread between work_queue
   *   and complete.
   */
  int (*task_traceparent)(const nat_task_t* task,
                          char buf[NAT_TRACEPARENT_SIZE]);
  int (*work_traceparent)(const nat_work_t* work,
                          char buf[NAT_TRACEPARENT_SIZE]);

  /*
   * Tasks in memory the caller owns (as a uv_work_t), so that a queue
   * costs no allocation per item. @since 1.1
   *
   * task_size: any thread. The bytes a task needs (a multiple of 16).
   * queue_link_into: as queue_link, with the task stored in `storage`:
   *   task_size() bytes, aligned to 8 at least (NAT_EINVAL otherwise),
   *   which the caller keeps valid and untouched until the task is
   *   consumed: once call_js or drop has been entered for it (the caller
   *   may free or reuse it inside them, as libuv's after-work callback
   *   may free its request), once task_cancel returned, or once a ready
   *   returned NAT_ECLOSING. *task == storage on success.
   * queue_link itself takes its tasks from a per-queue pool and gives
   * them back after dispatch: no allocation per item either, once the pool
   * has grown to the number of tasks in flight.
   */
  size_t (*task_size)(void);
  int (*queue_link_into)(nat_queue_t* queue, void* storage,
                         nat_task_t** task);
} nat_api_t;

/*
 * Finds the engine's table in the calling env, checks it and stores it in
 * *api. Returns 0, or NAT_ENOTLOADED / NAT_EVERSION / NAT_ENAPI with a JS
 * Error (whose `code` is "NAT_ENOTLOADED", ...) pending in env. `min_size`
 * is the smallest table the caller can work with: sizeof(nat_api_t) (what
 * nat_import passes) or offsetof the first entry it does not use. JS thread.
 * *api is written only on success, and always with the same pointer (the
 * table is one static for every env): one global that every env's module
 * init imports into is safe while other threads use it. Keep your own
 * "loaded" flag per env if you need one.
 */
static inline int nat_import_min(napi_env env, const nat_api_t** api,
                                 size_t min_size) {
  napi_value global, symbol_ctor, symbol_for, key, value;
  napi_valuetype type;
  const nat_api_t* table = NULL;
  void* data = NULL;
  int err = NAT_ENAPI;
  const char* msg = "napi-async-trace: a Node-API call failed in nat_import";

  if (napi_get_global(env, &global) != napi_ok) goto fail;
  if (napi_get_named_property(env, global, "Symbol", &symbol_ctor) != napi_ok)
    goto fail;
  if (napi_get_named_property(env, symbol_ctor, "for", &symbol_for) !=
      napi_ok)
    goto fail;
  if (napi_create_string_utf8(env, NAT_API_SYMBOL, NAPI_AUTO_LENGTH, &key) !=
      napi_ok)
    goto fail;
  if (napi_call_function(env, symbol_ctor, symbol_for, 1, &key, &key) !=
      napi_ok)
    goto fail;
  if (napi_get_property(env, global, key, &value) != napi_ok) goto fail;
  if (napi_typeof(env, value, &type) != napi_ok) goto fail;
  if (type != napi_external) {
    err = NAT_ENOTLOADED;
    msg = "napi-async-trace is not loaded in this thread: "
          "require('napi-async-trace') before loading this addon";
    goto fail;
  }
  if (napi_get_value_external(env, value, &data) != napi_ok) goto fail;
  table = (const nat_api_t*)data;
  err = NAT_EVERSION;
  if (table == NULL || table->magic != NAT_API_MAGIC) {
    msg = "napi-async-trace: the API table found is not napi-async-trace's";
    goto fail;
  }
  if (table->abi_major != NAT_ABI_MAJOR) {
    msg = "napi-async-trace: the loaded engine has another ABI major version "
          "than this addon was built for";
    goto fail;
  }
  if (table->size < min_size) {
    msg = "napi-async-trace: the loaded engine is older than this addon "
          "needs (its API table is smaller); upgrade napi-async-trace";
    goto fail;
  }
  *api = table;
  return 0;

fail:
  napi_throw_error(env, nat_err_code(err), msg);
  return err;
}

static inline int nat_import(napi_env env, const nat_api_t** api) {
  return nat_import_min(env, api, sizeof(nat_api_t));
}

/*
 * Throws a JS error for a nat_errno_t the way the engine does, so that
 * every error a user sees speaks one vocabulary: `code` is nat_err_code(err)
 * ("NAT_EINVAL"), the class is TypeError for NAT_EINVAL, RangeError for
 * NAT_ERANGE and NAT_ENAMETOOLONG, Error otherwise, and the message is `msg`
 * or, when NULL, nat_err_message(err). JS thread, with no exception
 * pending (check napi_is_exception_pending first where one may be).
 * Returns the status of the napi_throw_* call.
 */
static inline napi_status nat_throw(napi_env env, int err, const char* msg) {
  const char* code = nat_err_code(err);
  if (msg == NULL) msg = nat_err_message(err);
  if (err == NAT_EINVAL) return napi_throw_type_error(env, code, msg);
  if (err == NAT_ERANGE || err == NAT_ENAMETOOLONG)
    return napi_throw_range_error(env, code, msg);
  return napi_throw_error(env, code, msg);
}

#ifdef __cplusplus
}
#endif

#endif /* NAPI_ASYNC_TRACE_H */
