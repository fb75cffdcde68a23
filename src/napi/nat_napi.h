/*
 * The addon's internal interface: per-env state, the frame stack and the
 * helpers the binding files share. Node-API lives here, never in src/core.
 */
#ifndef NAT_NAPI_H
#define NAT_NAPI_H

#include <node_api.h>
#include <uv.h>

#include "napi_async_trace.h"
#include "nat_core.h"

#ifndef NAT_VERSION
#define NAT_VERSION "0.0.0-dev"
#endif

/* Deepest frame nesting accepted on one thread. */
#define NAT__MAX_FRAME_DEPTH 65536u

/*
 * One per env that loaded the addon (the main thread, each Worker). Created
 * in module init, freed by the instance data's finalizer (env_finalize in
 * binding.c); touched only on the env's own JS thread, except `serial`,
 * which is copied into sites and records.
 *
 * The calling thread's env is found through a thread-local pointer, not
 * through napi_env: an addon using the C ABI has its own napi_env, which
 * does not carry our instance data. Node runs one env per thread.
 */
typedef struct {
  uint64_t id;
  uint32_t site;
} nat__frame_t;

typedef struct nat__env_s {
  napi_env env;
  uint32_t serial;
  uv_thread_t thread;
  int closing;     /* teardown began: set by the env cleanup hook
                     (env_cleanup, binding.c), before the instance data's
                     finalizer; entries that need a live env refuse */
  int root_open;   /* executionBegin 0 recorded, executionEnd 0 pending */

  /* Open frames, innermost last. A frame begun while recording was off has
   * ID 0 and records nothing. */
  nat__frame_t* frames;
  uint32_t depth;
  uint32_t frames_cap;

  napi_ref api_external; /* the nativeApi External of this env */

  /* The native function napi_make_callback calls to run a dispatched C
   * callback in its context (see nat__dispatch): made once per env; it
   * runs run_fn(run_arg). */
  napi_ref trampoline_fn;
  void (*run_fn)(void* arg);
  void* run_arg;
  /* Enter contexts with napi_open_callback_scope instead: lib/ found at
   * load (a probe) that it carries AsyncLocalStorage here (Node 20, 22;
   * not with AsyncContextFrame, Node 24+). One JS call less per item. */
  int scope_carrier;
  /* (hasRef) => class { hasRef () { return hasRef() } }: makes a queue's
   * resource class; made on first use (nat__resource_maker). */
  napi_ref resource_maker;

  /* Sends JS-side state released on other threads to this JS thread. */
  struct nat__anchor_s* anchor;

  /* enable({ stacks: true }): a JS function called with the linkID of each
   * link made on this JS thread, which captures the JS stack there. NULL
   * when off; in_link_hook stops a link made by the hook from recursing. */
  napi_ref link_hook;
  int in_link_hook;

  /* Bridges to other tracers (lib/otel.js, lib/channel.js), each NULL
   * unless JS registered it, so that a path without them costs one load:
   * link_ctx_fn  nat.setLinkContext(): returns the requester's W3C
   *              traceparent, asked at each JS-thread queue_link and
   *              work_queue and kept with the task (nat__link_context).
   * work_hook    (phase, linkID, executeID, site) around each dispatched
   *              callback (NAT__WORK_*), registered only while the
   *              TracingChannel has subscribers or the span bridge is on. */
  napi_ref link_ctx_fn;
  napi_ref work_hook;
  uint64_t link_ctx_errors; /* provider calls that threw or returned junk */
} nat__env_t;

/* A W3C trace context captured at link time, binary: `set` is 0 when none
 * was captured. Written once on the JS thread before the task or run is
 * handed to any other thread (the enqueue publishes it), read-only after. */
typedef struct {
  uint8_t set;
  uint8_t flags;
  uint8_t trace_id[16];
  uint8_t span_id[8];
} nat__traceparent_t;

/* Asks the env's link-context provider for the current traceparent and
 * stores it in *tp (tp->set = 0 when there is no provider or no valid
 * answer). JS thread of e; e may be NULL. */
void nat__link_context(nat__env_t* e, nat__traceparent_t* tp);
/* Formats *tp as a traceparent header value: NAT_TRACEPARENT_SIZE bytes
 * with the NUL. 0, or NAT_ENOENT when none was captured. Any thread. */
int nat__traceparent_format(const nat__traceparent_t* tp, char* buf);

/* Phases of the work hook (nat__env_t.work_hook). */
#define NAT__WORK_BEGIN 1 /* the callback is about to run, in its context */
#define NAT__WORK_END 2   /* the callback returned (or threw) */
#define NAT__WORK_ABORT 3 /* the item will not run normally (cancelled) */
/* Calls the work hook when one is registered. JS thread of e. Keeps an
 * exception the callback left pending: it is set aside and thrown again. */
void nat__work_hook_call(nat__env_t* e, int phase, uint64_t link_id,
                         uint64_t execute_id, uint32_t site);

/* The env whose JS thread is the calling thread, or NULL. */
nat__env_t* nat__env_current(void);
void nat__env_set_current(nat__env_t* e);

/* Interns a NUL-terminated `module:kind` name; stores its length in *len
 * (when len is not NULL). Returns the site index or a negative NAT_E*
 * (NAT_ENAMETOOLONG past NAT_SITE_NAME_MAX bytes). Any thread. */
int32_t nat__intern_name(const char* name, size_t* len);

/* Allocates a new env serial (1 for the first env in the process). */
uint32_t nat__env_next_serial(void);

/* Frame stack (JS thread of e). */
int nat__frame_begin(nat__env_t* e, uint32_t site, uint64_t ready_id,
                     uint64_t* execute_id);
int nat__frame_end(nat__env_t* e, uint64_t execute_id);
/* Ends the frame that was begun at stack depth `depth` (e->depth right
 * after its begin) and, first, any frame a callback left open inside it.
 * For the engine's own dispatch, which must always close its frame. */
void nat__frame_unwind(nat__env_t* e, uint32_t depth);
uint64_t nat__frame_current(const nat__env_t* e);

/* Records a link in frame `execute_id`; *link_id is 0 when not recording. */
void nat__mark_link(uint32_t site, uint32_t env, uint64_t execute_id,
                    uint64_t* link_id);
/* Records a ready of link_id made by frame `execute_id`. */
void nat__mark_ready(uint32_t site, uint32_t env, uint64_t execute_id,
                     uint64_t link_id, uint64_t* ready_id);

/* Is the calling thread `t`? */
static inline int nat__on_thread(const uv_thread_t* t) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, t);
}

/*
 * The requester's context of one task, work run or queue: a resource
 * object for async_hooks and its napi_async_context, which also carries
 * AsyncLocalStorage when entered with napi_make_callback (Node 20-26).
 * Both belong to the JS thread of `env`.
 */
typedef struct {
  napi_async_context ctx;
  napi_ref resource; /* NULL when ctx holds the resource Node made for it
                        (napi_async_init without one: nat__wrap_async_open) */
} nat__async_t;

/* Makes a context in the current JS frame (async_hooks sees it triggered
 * there): a fresh resource object, with `has_ref` as its hasRef when not
 * NULL, typed `name`. 0, or NAT_ENAPI with nothing left in *a. */
int nat__async_open(napi_env env, napi_value has_ref, const char* name,
                    size_t len, nat__async_t* a);
/* Releases what nat__async_open made (fields may be NULL); zeroes *a. */
/* A context whose resource object Node makes and holds (napi_async_init
 * with no resource): no object or reference of ours per context. Entered
 * by nat__dispatch through the context alone. JS thread. */
int nat__async_open_owned(napi_env env, const char* name, size_t len,
                          nat__async_t* a);
void nat__async_close(napi_env env, nat__async_t* a);
/* Non-zero when *a holds anything. */
static inline int nat__async_held(const nat__async_t* a) {
  return a->ctx != NULL || a->resource != NULL;
}

/* The env's resource-class maker (see nat__env_t), made on first use.
 * JS thread of e. 0 or NAT_ENAPI. */
int nat__resource_maker(nat__env_t* e, napi_value* maker);

/* The trampoline's body (binding.c's native function calls it). */
void nat__trampoline_run(nat__env_t* e);

/*
 * An env's anchor: closes contexts on the env's JS thread when they end on
 * another thread, and outlives the env (reference counted). create: JS
 * thread, module init. ref/unref: any thread. close_from: any thread;
 * closes *a now on the JS thread, or sends it there (never blocks); *a is
 * emptied either way.
 */
typedef struct nat__anchor_s nat__anchor_t;
nat__anchor_t* nat__anchor_create(napi_env env);
void nat__anchor_ref(nat__anchor_t* an);
void nat__anchor_unref(nat__anchor_t* an);
void nat__async_close_from(nat__anchor_t* an, napi_env env, nat__async_t* a);

/*
 * The engine's dispatch of one callback, on the JS thread of `env`:
 * fn(arg) run in a's context, inside an execution frame of `site` for
 * `ready_id` (none when `frame` is 0) that begins and ends inside the
 * callback scope. The scope is napi_open_callback_scope where lib/'s probe
 * found that it carries AsyncLocalStorage (Node 20, 22), else
 * napi_make_callback of the env's trampoline (Node 24+); either way
 * async_hooks and AsyncLocalStorage see the requester, and the microtask
 * queue runs when it closes if it is the outermost scope. Without a
 * context fn runs directly. Frames fn left open are closed with ours.
 * `link_id` names the work item to the work hook (none when 0).
 */
void nat__dispatch(napi_env env, uint32_t site, uint64_t ready_id,
                   uint64_t link_id, int frame, const nat__async_t* a,
                   void (*fn)(void*), void* arg);
/* nat__dispatch with the value of a's resource already in hand (NULL:
 * fetched from a->resource, as nat__dispatch does). */
void nat__dispatch_res(napi_env env, uint32_t site, uint64_t ready_id,
                       uint64_t link_id, int frame, const nat__async_t* a,
                       napi_value resource, void (*fn)(void*), void* arg);

/* Tracked queues (queue.c) and tracked async work (work.c): the entries
 * of the exported table, documented in include/napi_async_trace.h. */
int nat__queue_create(napi_env env, const nat_queue_options_t* o,
                      nat_queue_t** out);
int nat__queue_link(nat_queue_t* q, nat_task_t** out);
size_t nat__task_size(void);
int nat__queue_link_into(nat_queue_t* q, void* storage, nat_task_t** out);
int nat__queue_ready(nat_task_t* t, void* data,
                     napi_threadsafe_function_call_mode mode);
int nat__task_cancel(nat_task_t* t);
int nat__task_ids(const nat_task_t* t, nat_id_t* link_id, nat_id_t* ready_id);
int nat__queue_acquire(nat_queue_t* q);
int nat__queue_release(nat_queue_t* q);
int nat__queue_abort(nat_queue_t* q);
int nat__queue_ref(napi_env env, nat_queue_t* q);
int nat__queue_unref(napi_env env, nat_queue_t* q);
int nat__work_create(napi_env env, const nat_work_options_t* o,
                     nat_work_t** out);
int nat__work_queue(nat_work_t* w);
int nat__work_cancel(nat_work_t* w);
int nat__work_delete(nat_work_t* w);
int nat__task_traceparent(const nat_task_t* t, char* buf);
int nat__work_traceparent(const nat_work_t* w, char* buf);

/* The exported table. */
extern const nat_api_t nat__api;

const char* nat__strerror(int err);
const char* nat__err_name(int err);

/* nat_throw (include/napi_async_trace.h) unless an exception is already
 * pending: TypeError for NAT_EINVAL, RangeError for NAT_ERANGE and
 * NAT_ENAMETOOLONG, Error otherwise, with `code` "NAT_E...". */
void nat__throw(napi_env env, int err, const char* msg);

/* The first n arguments of a JS call into argv, missing ones undefined.
 * 0, or -1 with a JS error thrown. JS thread (binding.c). */
int nat__get_args(napi_env env, napi_callback_info info, size_t n,
                  napi_value* argv);

/* Consumers (hub.c): one subscription per reader of the event stream. All
 * are called on some env's JS thread. */
napi_value nat__js_subscribe(napi_env env, napi_callback_info info);
/* Buffers of whole records for JS (hub.c). nat__records_buffer: an
 * ArrayBuffer of `bytes` whose memory (in *data) the caller writes over
 * whole, not zero-filled first; NULL on failure. nat__records_alloc: a
 * nat__drain alloc callback making one for exactly the drained count into
 * the nat__records_ctx_t it is given. JS thread. */
typedef struct {
  napi_env env;
  napi_value buffer; /* set by nat__records_alloc */
} nat__records_ctx_t;
napi_value nat__records_buffer(napi_env env, size_t bytes, void** data);
nat_record_t* nat__records_alloc(void* ud, size_t count);

napi_value nat__js_consume(napi_env env, napi_callback_info info);
napi_value nat__js_count_lost(napi_env env, napi_callback_info info);
napi_value nat__js_unsubscribe(napi_env env, napi_callback_info info);
napi_value nat__js_consumer_stats(napi_env env, napi_callback_info info);
napi_value nat__js_consumers(napi_env env, napi_callback_info info);

#endif /* NAT_NAPI_H */
