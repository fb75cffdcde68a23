/*
 * Replacements for an unmodified addon's napi_create_threadsafe_function,
 * napi_call_threadsafe_function and napi_get_threadsafe_function_context.
 *
 * Per call: `link` + `ready` when the addon calls
 * napi_call_threadsafe_function. From a native thread the link belongs to
 * the frame that created the function and the ready to 0 (a native thread
 * made it ready); on the JS thread both belong to the current frame. Each
 * call_js is an execution frame, run in the context of the requester: the
 * creator's (one napi_async_init context made at creation) for calls from
 * native threads, the caller's own (one per call) for calls on the JS
 * thread.
 *
 * Node gets our call_js and finalizer, our record as context and finalize
 * data, and one item of ours per call as data; the addon keeps Node's
 * handle. napi_get_threadsafe_function_context gives the addon its own
 * context back. Items and records live in the arena (nat_wrap.h), so
 * call_js can tell our items from raw data pushed by a call that reached
 * Node directly (a slot restored mid-flight, the arena full), and the call
 * replacement can tell our functions from the addon's others by the
 * context Node holds, without reading memory that is not ours.
 *
 * napi_acquire/release/ref/unref_threadsafe_function act on Node's handle
 * and need no replacement. Node's finalizer order (finalize_cb first, then
 * call_js(NULL, NULL, context, data) for each item left) is why the record
 * is counted (refs): Node's object holds one, every item in flight one.
 *
 * Threads: create and call_js/finalize on the JS thread of the env; call
 * and get_context on any thread. refs is atomic; everything else in the
 * record is written before Node has it and read-only afterwards, except
 * `async` (JS thread).
 */
#include <string.h>

#include "nat_wrap.h"

typedef struct {
  _Atomic uint32_t kind; /* NAT__WKIND_TSFN */
  uint32_t site;
  nat__wenv_t* w;
  void* context; /* the addon's */
  napi_threadsafe_function_call_js call_js; /* the addon's, may be NULL */
  napi_finalize finalize;                   /* the addon's, may be NULL */
  void* finalize_data;
  uint64_t creator_frame;
  uv_thread_t thread;
  nat__async_t async; /* the creator's context, closed at finalize */
  _Atomic uint32_t refs;
} wtsfn_t;

typedef struct {
  _Atomic uint32_t kind; /* NAT__WKIND_ITEM */
  wtsfn_t* t;
  void* data; /* the addon's */
  uint64_t link_id, ready_id;
  nat__async_t async; /* the JS-thread caller's context, else empty */
} witem_t;

_Static_assert(sizeof(wtsfn_t) <= NAT__WSLOT_SIZE, "wtsfn_t fits a slot");
/* One cache line: an item crosses from the producer to the JS thread. */
_Static_assert(sizeof(witem_t) <= 64, "witem_t fits a cache line");

/* Any thread. The last reference is dropped either on the JS thread (call_js,
 * finalize) or by a producer whose call failed after finalize; the record's
 * JS parts are gone by then (finalize closed them). */
static void tsfn_unref(wtsfn_t* t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
    nat__wenv_t* w = t->w;
    nat__warena_put(t);
    nat__wenv_unref(w);
  }
}

/* An item's context belongs to the JS thread; only JS-thread callers have
 * one, and they free it there. */
static void item_free(witem_t* it) {
  wtsfn_t* t = it->t;
  if (nat__async_held(&it->async) && !t->w->dead)
    nat__async_close(t->w->env, &it->async);
  nat__warena_put(it);
  tsfn_unref(t);
}

/* The addon's call_js, or what Node does without one. */
static void addon_call_js(const wtsfn_t* t, napi_env env, napi_value js_cb,
                          void* data) {
  if (t->call_js != NULL) {
    t->call_js(env, js_cb, t->context, data);
    return;
  }
  if (env == NULL || js_cb == NULL) return;
  napi_value recv;
  if (napi_get_undefined(env, &recv) != napi_ok) {
    napi_throw_error(env, "ERR_NAPI_TSFN_GET_UNDEFINED",
                     "Failed to retrieve undefined value");
    return;
  }
  napi_status st = napi_call_function(env, recv, js_cb, 0, NULL, NULL);
  if (st != napi_ok && st != napi_pending_exception)
    napi_throw_error(env, "ERR_NAPI_TSFN_CALL_JS",
                     "Failed to call JS callback");
}

typedef struct {
  const wtsfn_t* t;
  napi_env env;
  napi_value js_cb;
  void* data;
} call_t;

static void run_call_js(void* arg) {
  call_t* c = arg;
  addon_call_js(c->t, c->env, c->js_cb, c->data);
}

/* JS thread (Node's dispatch, or its teardown with env == NULL). */
static void tsfn_call_js(napi_env env, napi_value js_cb, void* context,
                         void* data) {
  wtsfn_t* t = context;
  if (!nat__warena_owns(data, NAT__WKIND_ITEM)) {
    addon_call_js(t, env, js_cb, data);
    return;
  }
  witem_t* it = data;
  nat__wenv_t* w = t->w;
  if (env == NULL) {
    /* Teardown or abort: the item never runs. The addon still gets its
     * data, to free it. */
    if (it->link_id != 0 && nat__is_enabled())
      nat__emit(NAT_EV_ABORT, 0, it->link_id, it->ready_id, t->site,
                w->serial);
    /* The item holds t alive until the addon is done with its context. */
    addon_call_js(t, NULL, NULL, it->data);
    item_free(it);
    return;
  }
  call_t c = {t, env, js_cb, it->data};
  const nat__async_t* a =
      nat__async_held(&it->async) ? &it->async : &t->async;
  nat__env_t* e = nat__env_current();
  if (w->dead || !nat__async_held(a)) {
    run_call_js(&c);
  } else if (a == &t->async &&
             atomic_load_explicit(&nat__wrap_node_scope_carries,
                                  memory_order_relaxed) &&
             (e == NULL || e->work_hook == NULL)) {
    /* A call from a native thread runs in the creator's context, and so
     * does the scope Node has just opened around call_js: its resource was
     * made at creation, in the same frame as ours, and on this Node that
     * scope carries AsyncLocalStorage. Only the frame is ours to add (a
     * work hook, when one listens, goes through the dispatch). */
    uint64_t exec = 0;
    uint32_t depth = 0;
    if (e != NULL && it->ready_id != 0 &&
        nat__frame_begin(e, t->site, it->ready_id, &exec) == 0)
      depth = e->depth;
    run_call_js(&c);
    if (depth != 0) nat__frame_unwind(e, depth);
  } else {
    nat__wrap_dispatch(w, env, t->site, it->ready_id, it->link_id,
                       it->ready_id != 0, a, run_call_js, &c);
  }
  item_free(it);
}

/* JS thread; Node calls it once, before call_js(NULL, ...) for the items
 * still queued. */
static void tsfn_finalize(napi_env env, void* finalize_data, void* context) {
  (void)context;
  wtsfn_t* t = finalize_data;
  if (t->finalize != NULL) t->finalize(env, t->finalize_data, t->context);
  if (!t->w->dead) nat__async_close(t->w->env, &t->async);
  tsfn_unref(t);
}

napi_status nat__wrap_create_threadsafe_function(
    napi_env env, napi_value func, napi_value async_resource,
    napi_value async_resource_name, size_t max_queue_size,
    size_t initial_thread_count, void* thread_finalize_data,
    napi_finalize thread_finalize_cb, void* context,
    napi_threadsafe_function_call_js call_js_cb,
    napi_threadsafe_function* result) {
  void* caller = __builtin_return_address(0);
  nat__wenv_t* w;
  wtsfn_t* t;
  /* Without func and call_js Node refuses the call: let it say so. */
  if (!nat__is_enabled() || result == NULL ||
      (func == NULL && call_js_cb == NULL) ||
      (w = nat__wenv_current()) == NULL || w->dead ||
      !nat__on_thread(&w->thread) ||
      (t = nat__warena_get(NAT__WKIND_TSFN, sizeof(wtsfn_t))) == NULL)
    return napi_create_threadsafe_function(
        env, func, async_resource, async_resource_name, max_queue_size,
        initial_thread_count, thread_finalize_data, thread_finalize_cb,
        context, call_js_cb, result);
  t->w = w;
  t->context = context;
  t->call_js = call_js_cb;
  t->finalize = thread_finalize_cb;
  t->finalize_data = thread_finalize_data;
  t->thread = w->thread;
  t->site = nat__wrap_site(caller, env, async_resource_name, "tsfn");
  nat__env_t* e = nat__env_current();
  t->creator_frame = e != NULL ? nat__frame_current(e) : 0;
  if (nat__wrap_async_open(w, t->site, &t->async) != 0)
    atomic_fetch_add_explicit(&nat__wrap_untraced, 1, memory_order_relaxed);
  atomic_init(&t->refs, 1);
  napi_status st = napi_create_threadsafe_function(
      env, func, async_resource, async_resource_name, max_queue_size,
      initial_thread_count, t, tsfn_finalize, t, tsfn_call_js, result);
  if (st != napi_ok) {
    nat__async_close(w->env, &t->async);
    nat__warena_put(t);
    return st;
  }
  nat__wenv_ref(w);
  return st;
}

napi_status nat__wrap_call_threadsafe_function(
    napi_threadsafe_function func, void* data,
    napi_threadsafe_function_call_mode is_blocking) {
  void* ctx = NULL;
  if (func == NULL ||
      napi_get_threadsafe_function_context(func, &ctx) != napi_ok ||
      !nat__warena_owns(ctx, NAT__WKIND_TSFN))
    return napi_call_threadsafe_function(func, data, is_blocking);
  wtsfn_t* t = ctx;
  witem_t* it = nat__warena_get(NAT__WKIND_ITEM, sizeof(witem_t));
  if (it == NULL) {
    /* call_js will see raw data and hand it over untraced. */
    atomic_fetch_add_explicit(&nat__wrap_untraced, 1, memory_order_relaxed);
    return napi_call_threadsafe_function(func, data, is_blocking);
  }
  it->t = t;
  it->data = data;
  /* t is alive: the addon may call only while Node's object exists, and
   * that holds a reference until finalize. */
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  nat__wenv_t* w = t->w;
  if (nat__on_thread(&t->thread)) {
    /* Only the JS thread reads w->dead and opens contexts. */
    nat__env_t* e = nat__env_current();
    uint64_t frame = e != NULL ? nat__frame_current(e) : 0;
    if (!w->dead && nat__wrap_async_open(w, t->site, &it->async) != 0)
      atomic_fetch_add_explicit(&nat__wrap_untraced, 1, memory_order_relaxed);
    nat__mark_link(t->site, w->serial, frame, &it->link_id);
    if (it->link_id != 0)
      nat__mark_ready(t->site, w->serial, frame, it->link_id, &it->ready_id);
  } else {
    nat__mark_link(t->site, w->serial, t->creator_frame, &it->link_id);
    if (it->link_id != 0)
      nat__mark_ready(t->site, w->serial, 0, it->link_id, &it->ready_id);
  }
  /* The ready is recorded before the push: once pushed, the JS thread may
   * run the item (and record its frame) at once. */
  napi_status st = napi_call_threadsafe_function(func, it, is_blocking);
  if (st != napi_ok) {
    if (it->link_id != 0)
      nat__emit_owed(NAT_EV_ABORT, 0, it->link_id, it->ready_id, t->site,
                   w->serial);
    item_free(it);
  }
  return st;
}

napi_status nat__wrap_get_threadsafe_function_context(
    napi_threadsafe_function func, void** result) {
  napi_status st = napi_get_threadsafe_function_context(func, result);
  if (st == napi_ok && result != NULL &&
      nat__warena_owns(*result, NAT__WKIND_TSFN))
    *result = ((wtsfn_t*)*result)->context;
  return st;
}
