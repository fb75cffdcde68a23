/*
 * Tracked queues: a napi_threadsafe_function whose every work item (task)
 * is one link, one ready and one execution frame, dispatched in the async
 * context of the frame that linked it.
 *
 * Threads, as in node_api.cc's ThreadSafeFunction:
 *   JS thread (the queue's env)  queue_create, queue_ref/unref, dispatch
 *                                (queue_call_js), finalize (tsfn_finalize).
 *   any thread                   queue_link, queue_ready, task_cancel,
 *                                queue_acquire/release/abort, task_ids.
 *
 * Lifetimes. The queue's memory is reference counted (`refs`): one for
 * the threadsafe function until it is finalized, one per thread reference
 * (initial_thread_count, acquire; dropped by release/abort) and one per
 * live task. So a native thread that still holds a task or a reference
 * after the env was torn down calls into valid memory and gets
 * NAT_ECLOSING, where a raw threadsafe function would be freed under it.
 *
 * The threadsafe function itself is freed by Node after tsfn_finalize.
 * Calls into it from other threads go through a gate: a caller increments
 * `gate`, then checks `tsfn_gone`; tsfn_finalize sets `tsfn_gone`, then
 * waits for `gate` to drain. Both sides use sequentially consistent
 * operations, so either the caller sees tsfn_gone or finalize sees the
 * caller in the gate (and waits; Node has already set the tsfn closing, so
 * a caller blocked in napi_call_threadsafe_function returns napi_closing).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"

enum { TASK_LINKED = 1, TASK_READY = 2, TASK_DONE = 3 };

/* State behind a queue's resource object; read by its hasRef(). Owned by
 * the hasRef function (freed when it is collected); the queue writes it
 * only until it finalizes. JS thread. */
typedef struct {
  int refed;
} nat__res_state_t;

struct nat_queue_s {
  /* Immutable after create. */
  napi_env env;
  uv_thread_t thread;
  uint32_t site;
  uint32_t env_serial;
  uint32_t flags;
  uint64_t creator_frame;
  void* context;
  nat_queue_call_js_t call_js;
  nat_queue_drop_t drop;
  nat_queue_finalize_t finalize;
  void* finalize_data;
  napi_threadsafe_function tsfn;
  nat__anchor_t* anchor; /* the env's: closes task contexts on its thread */
  size_t name_len;
  char name[NAT_SITE_NAME_MAX + 1];

  /* JS thread only. */
  napi_ref has_ref_fn;    /* strong until finalize */
  nat__async_t shared;    /* the creating frame's context; its resource is
                             the threadsafe function's too */
  nat__res_state_t* res;  /* NULL after finalize */

  _Atomic uint64_t refs;
  _Atomic int64_t threads; /* thread references not yet released */
  _Atomic int closing;     /* released to zero, aborted or finalized: no
                              more links */
  _Atomic int aborted;     /* aborted or finalized: no more readies */
  _Atomic int gate;
  _Atomic int tsfn_gone;

  /* Blocking readies wait here, not in napi_call_threadsafe_function: on
   * abort Node wakes only one of several blocked callers (a cond signal,
   * not a broadcast), which deadlocks a teardown that joins its producer
   * threads. Dispatch bumps `dispatched` (a slot was freed) and wakes the
   * waiters; abort and finalize wake them for good. */
  uv_mutex_t wait_mu;
  uv_cond_t wait_cv;
  _Atomic int waiters;
  _Atomic uint64_t dispatched;

  /* Tasks handed to Node and not yet through call_js. On Node 20 and 22,
   * Node empties the queue (call_js with env == NULL) after finalize_cb,
   * so the user's finalize waits for this to reach 0: `drop` never runs
   * after `finalize`. */
  _Atomic int64_t in_node;
  int finalize_pending; /* JS thread */
};

struct nat_task_s {
  nat_queue_t* q;
  uint64_t link_id;
  uint64_t ready_id;
  nat__async_t async;     /* its own context; none: the queue's shared */
  nat__traceparent_t tp;  /* the requester's trace context (link time) */
  void* data;
  _Atomic int state;
};

static int on_thread(const nat_queue_t* q) {
  return nat__on_thread(&q->thread);
}

static void queue_unref_mem(nat_queue_t* q) {
  if (atomic_fetch_sub(&q->refs, 1) == 1) {
    nat__anchor_unref(q->anchor);
    uv_cond_destroy(&q->wait_cv);
    uv_mutex_destroy(&q->wait_mu);
    free(q);
  }
}

/* A slot was freed, or the queue is aborting: wake blocked readies. The
 * dispatched bump and the waiters load are sequentially consistent, and
 * a waiter counts itself before it re-checks `dispatched` under the lock,
 * so a wake-up is never lost. Any thread. */
static void wake_waiters(nat_queue_t* q) {
  atomic_fetch_add(&q->dispatched, 1);
  if (atomic_load(&q->waiters) == 0) return;
  uv_mutex_lock(&q->wait_mu);
  uv_cond_broadcast(&q->wait_cv);
  uv_mutex_unlock(&q->wait_mu);
}

/* Enters the gate; returns 0 when the threadsafe function may be used
 * (call gate_leave after), -1 when it is gone. */
static int gate_enter(nat_queue_t* q) {
  atomic_fetch_add(&q->gate, 1);
  if (atomic_load(&q->tsfn_gone)) {
    atomic_fetch_sub(&q->gate, 1);
    return -1;
  }
  return 0;
}

static void gate_leave(nat_queue_t* q) { atomic_fetch_sub(&q->gate, 1); }

/* Frees a task. Any thread: a task with JS-side state (linked on the JS
 * thread) that ends on another thread (cancelled there, or its ready failed
 * because the queue closed) sends its context to the JS thread through the
 * env's anchor, which never blocks. */
static void task_free(nat_task_t* t) {
  nat_queue_t* q = t->q;
  nat__async_close_from(q->anchor, q->env, &t->async);
  free(t);
  queue_unref_mem(q);
}

static void task_abort(nat_task_t* t) {
  nat_queue_t* q = t->q;
  nat__emit(NAT_EV_ABORT, 0, t->link_id, t->ready_id, q->site, q->env_serial);
  task_free(t);
}

/* ---- hasRef ------------------------------------------------------------- */

static napi_value js_has_ref(napi_env env, napi_callback_info info) {
  void* data = NULL;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  nat__res_state_t* r = data;
  napi_value v;
  napi_get_boolean(env, r != NULL && r->refed, &v);
  return v;
}

static void res_state_free(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* ---- dispatch (JS thread) ----------------------------------------------- */

typedef struct {
  nat_queue_t* q;
  napi_env env;
  napi_value js_cb;
  void* data;
} dispatch_t;

/* The user's part of a dispatch. */
static void run_user(void* arg) {
  dispatch_t* d = arg;
  if (d->q->call_js != NULL) {
    d->q->call_js(d->env, d->js_cb, d->q->context, d->data);
  } else if (d->js_cb != NULL) {
    napi_value undefined;
    napi_get_undefined(d->env, &undefined);
    napi_call_function(d->env, undefined, d->js_cb, 0, NULL, NULL);
  }
}

static void queue_call_js_task(napi_env env, napi_value js_cb, nat_queue_t* q,
                               nat_task_t* t);
static void user_finalize(nat_queue_t* q);

static void queue_call_js(napi_env env, napi_value js_cb, void* context,
                          void* data) {
  nat_queue_t* q = context;
  nat_task_t* t = data;
  if (t == NULL) return;
  wake_waiters(q); /* Node popped this item: its slot is free */
  queue_call_js_task(env, js_cb, q, t);
  if (atomic_fetch_sub(&q->in_node, 1) == 1 && q->finalize_pending)
    user_finalize(q);
}

static void queue_call_js_task(napi_env env, napi_value js_cb, nat_queue_t* q,
                               nat_task_t* t) {
  if (env == NULL || atomic_load(&q->aborted)) {
    /* Node is emptying the queue (abort or teardown), or an abort came
     * when Node could no longer be told (no reference left to abort the
     * threadsafe function with): the task never runs. */
    if (q->drop != NULL) q->drop(q->context, t->data);
    atomic_store(&t->state, TASK_DONE);
    task_abort(t);
    return;
  }

  dispatch_t d = {q, env, js_cb, t->data};
  /* A task without a context of its own runs in the queue's shared one
   * (made in the creating frame), entered with napi_make_callback: the
   * threadsafe function's own callback scope does not carry
   * AsyncLocalStorage on Node 24+. */
  nat__dispatch(env, q->site, t->ready_id, t->link_id, 1,
                nat__async_held(&t->async) ? &t->async : &q->shared,
                run_user, &d);
  atomic_store(&t->state, TASK_DONE);
  task_free(t);
}

/* The threadsafe function is finalized: last release, abort or teardown.
 * JS thread. */
static void tsfn_finalize(napi_env env, void* finalize_data, void* hint) {
  (void)hint;
  nat_queue_t* q = finalize_data;
  atomic_store(&q->closing, 1);
  atomic_store(&q->aborted, 1);
  atomic_store(&q->tsfn_gone, 1);
  wake_waiters(q);
  while (atomic_load(&q->gate) != 0) sched_yield();

  if (q->res != NULL) q->res->refed = 0;
  q->res = NULL;
  nat__async_close(env, &q->shared);
  if (q->has_ref_fn != NULL) napi_delete_reference(env, q->has_ref_fn);
  q->has_ref_fn = NULL;
  if (atomic_load(&q->in_node) == 0)
    user_finalize(q);
  else
    q->finalize_pending = 1; /* the last call_js will */
}

/* The user's finalize, once the queue is finalized and Node holds none of
 * its tasks; drops the threadsafe function's reference. JS thread. q->env
 * is still valid: Node keeps it for the threadsafe function. */
static void user_finalize(nat_queue_t* q) {
  q->finalize_pending = 0;
  if (q->finalize != NULL) q->finalize(q->env, q->finalize_data, q->context);
  queue_unref_mem(q);
}

/* ---- the API table entries ---------------------------------------------- */

/* The options this build knows: the size of version 1.0 of the struct. */
#define NAT__QUEUE_OPTIONS_V1 \
  (offsetof(nat_queue_options_t, finalize_data) + sizeof(void*))

int nat__queue_create(napi_env env, const nat_queue_options_t* o,
                      nat_queue_t** out) {
  if (env == NULL || o == NULL || out == NULL) return NAT_EINVAL;
  *out = NULL;
  /* The thread count is kept in a signed 64-bit word (and Node's in a
   * size_t that must not wrap when the engine adds its own): more than
   * INT64_MAX initial references is NAT_EINVAL. */
  if (o->struct_size < NAT__QUEUE_OPTIONS_V1 || o->name == NULL ||
      o->initial_thread_count == 0 ||
      (uint64_t)o->initial_thread_count > (uint64_t)INT64_MAX || (o->func == NULL && o->call_js == NULL) ||
      (o->flags & ~NAT_QUEUE_SHARED_CONTEXT) != 0)
    return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  if (e == NULL || e->closing) return NAT_EWRONGTHREAD;

  size_t len;
  int32_t site = nat__intern_name(o->name, &len);
  if (site < 0) return site;

  nat_queue_t* q = calloc(1, sizeof(*q));
  nat__res_state_t* res = calloc(1, sizeof(*res));
  if (q == NULL || res == NULL) {
    free(q);
    free(res);
    return NAT_ENOMEM;
  }
  if (uv_mutex_init(&q->wait_mu) != 0) {
    free(q);
    free(res);
    return NAT_ENOMEM;
  }
  if (uv_cond_init(&q->wait_cv) != 0) {
    uv_mutex_destroy(&q->wait_mu);
    free(q);
    free(res);
    return NAT_ENOMEM;
  }
  q->env = env;
  q->anchor = e->anchor;
  nat__anchor_ref(q->anchor);
  q->thread = uv_thread_self();
  q->site = (uint32_t)site;
  q->env_serial = e->serial;
  q->flags = o->flags;
  q->creator_frame = nat__frame_current(e);
  q->context = o->context;
  q->call_js = o->call_js;
  q->drop = o->drop;
  q->finalize = o->finalize;
  q->finalize_data = o->finalize_data;
  memcpy(q->name, o->name, len);
  q->name[len] = '\0';
  q->name_len = len;

  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    uv_cond_destroy(&q->wait_cv);
    uv_mutex_destroy(&q->wait_mu);
    nat__anchor_unref(q->anchor);
    free(q);
    free(res);
    return NAT_ENAPI;
  }
  int err = NAT_ENAPI;
  napi_value has_ref, resource, name;
  if (napi_create_function(env, "hasRef", NAPI_AUTO_LENGTH, js_has_ref, res,
                           &has_ref) != napi_ok)
    goto fail_res;
  if (napi_add_finalizer(env, has_ref, res, res_state_free, NULL, NULL) !=
      napi_ok)
    goto fail_res;
  /* From here `res` belongs to the function. */
  q->res = res;
  res = NULL;
  if (napi_create_reference(env, has_ref, 1, &q->has_ref_fn) != napi_ok ||
      nat__async_open(env, has_ref, o->name, len, &q->shared) != 0 ||
      napi_get_reference_value(env, q->shared.resource, &resource) !=
          napi_ok ||
      napi_create_string_utf8(env, o->name, len, &name) != napi_ok)
    goto fail;
  atomic_store(&q->refs, (uint64_t)o->initial_thread_count + 1);
  atomic_store(&q->threads, (int64_t)o->initial_thread_count);
  if (napi_create_threadsafe_function(
          env, o->func, resource, name, o->max_queue_size,
          o->initial_thread_count, q, tsfn_finalize, q, queue_call_js,
          &q->tsfn) != napi_ok)
    goto fail;
  q->res->refed = 1;
  napi_close_handle_scope(env, hs);
  *out = q;
  return 0;

fail_res:
  free(res);
fail:
  nat__async_close(env, &q->shared);
  if (q->has_ref_fn != NULL) napi_delete_reference(env, q->has_ref_fn);
  napi_close_handle_scope(env, hs);
  uv_cond_destroy(&q->wait_cv);
  uv_mutex_destroy(&q->wait_mu);
  nat__anchor_unref(q->anchor);
  free(q);
  return err;
}

int nat__queue_link(nat_queue_t* q, nat_task_t** out) {
  if (q == NULL || out == NULL) return NAT_EINVAL;
  *out = NULL;
  if (atomic_load(&q->closing)) return NAT_ECLOSING;
  nat_task_t* t = calloc(1, sizeof(*t));
  if (t == NULL) return NAT_ENOMEM;
  t->q = q;
  atomic_store_explicit(&t->state, TASK_LINKED, memory_order_relaxed);

  uint64_t frame = q->creator_frame;
  if (on_thread(q) && !atomic_load(&q->tsfn_gone)) {
    nat__env_t* e = nat__env_current();
    if (e != NULL) frame = nat__frame_current(e);
    if ((q->flags & NAT_QUEUE_SHARED_CONTEXT) == 0) {
      /* A resource object and an async context of the task's own, made in
       * the linking frame: async_hooks sees it triggered by the requester,
       * and AsyncLocalStorage (which keeps its store on the resource, or
       * in the context frame captured here) gives the callback the
       * requester's store. */
      napi_env env = q->env;
      napi_handle_scope hs;
      napi_value has_ref;
      if (napi_open_handle_scope(env, &hs) == napi_ok) {
        /* On failure the task runs in the queue's shared context. */
        if (napi_get_reference_value(env, q->has_ref_fn, &has_ref) == napi_ok)
          nat__async_open(env, has_ref, q->name, q->name_len, &t->async);
        napi_close_handle_scope(env, hs);
      }
    }
    /* Before the link is recorded, so the link hook sees the task whole;
     * a plain store published to other threads by the enqueue. */
    if (e != NULL && e->link_ctx_fn != NULL) nat__link_context(e, &t->tp);
  }
  atomic_fetch_add(&q->refs, 1);
  nat__mark_link(q->site, q->env_serial, frame, &t->link_id);
  *out = t;
  return 0;
}

/* Hands t to the threadsafe function, never blocking inside Node; with
 * `block`, waits on the queue's own condition while it is full. */
static napi_status enqueue(nat_queue_t* q, nat_task_t* t, int block) {
  for (;;) {
    uint64_t seen = atomic_load(&q->dispatched);
    napi_status st = napi_closing;
    if (!atomic_load(&q->aborted) && gate_enter(q) == 0) {
      /* Counted before: call_js may run (and uncount) at once. */
      atomic_fetch_add(&q->in_node, 1);
      st = napi_call_threadsafe_function(q->tsfn, t, napi_tsfn_nonblocking);
      if (st != napi_ok) atomic_fetch_sub(&q->in_node, 1);
      gate_leave(q);
      /* Node answers napi_invalid_arg for a closing queue whose thread
       * count is spent (each napi_closing answer spends one). */
      if (st == napi_invalid_arg) st = napi_closing;
    }
    if (st != napi_queue_full || !block) return st;
    uv_mutex_lock(&q->wait_mu);
    atomic_fetch_add(&q->waiters, 1);
    /* Timed: Node may close the queue (env teardown) without anything
     * here being told; the retry then sees napi_closing. */
    if (atomic_load(&q->dispatched) == seen && !atomic_load(&q->aborted))
      uv_cond_timedwait(&q->wait_cv, &q->wait_mu, 10 * 1000 * 1000);
    atomic_fetch_sub(&q->waiters, 1);
    uv_mutex_unlock(&q->wait_mu);
  }
}

int nat__queue_ready(nat_task_t* t, void* data,
                     napi_threadsafe_function_call_mode mode) {
  if (t == NULL) return NAT_EINVAL;
  if (mode != napi_tsfn_blocking && mode != napi_tsfn_nonblocking)
    return NAT_EINVAL;
  int expected = TASK_LINKED;
  if (!atomic_compare_exchange_strong(&t->state, &expected, TASK_READY))
    return NAT_EALREADY;
  nat_queue_t* q = t->q;

  /* The task may be freed by the dispatch as soon as it is enqueued:
   * everything recorded is copied first. */
  uint64_t exec = 0;
  if (on_thread(q)) {
    nat__env_t* e = nat__env_current();
    if (e != NULL) exec = nat__frame_current(e);
  }
  uint64_t link_id = t->link_id, ready_id = 0;
  uint32_t site = q->site, env_serial = q->env_serial;
  if (nat__is_enabled()) {
    /* Recorded before the enqueue, so that the record is in the ring
     * before the callback can run (and be drained): a drain taken in or
     * after the callback always finds the ready that caused it. A failed
     * enqueue takes it back below. */
    ready_id = nat__id_next();
    nat__emit_owed(NAT_EV_READY, exec, link_id, ready_id, site, env_serial);
  }
  t->ready_id = ready_id;
  t->data = data;

  napi_status st = enqueue(q, t, mode == napi_tsfn_blocking && !on_thread(q));
  /* On success neither t nor q may be touched now: the dispatch may have
   * freed the task and, with it, the queue's last reference. */
  if (st == napi_ok) return 0;
  if (st == napi_queue_full || st == napi_would_deadlock) {
    if (ready_id != 0)
      nat__emit_owed(NAT_EV_READY_FAILED, exec, link_id, ready_id, site,
                   env_serial);
    t->ready_id = 0;
    t->data = NULL;
    atomic_store(&t->state, TASK_LINKED);
    return NAT_EFULL;
  }
  /* Closing (or any other failure): the task will never run; the abort
   * names the ready too. */
  atomic_store(&t->state, TASK_DONE);
  task_abort(t);
  return st == napi_closing ? NAT_ECLOSING : NAT_ENAPI;
}

int nat__task_cancel(nat_task_t* t) {
  if (t == NULL) return NAT_EINVAL;
  int expected = TASK_LINKED;
  if (!atomic_compare_exchange_strong(&t->state, &expected, TASK_DONE))
    return NAT_EALREADY;
  /* Never blocks: a context of the task's own goes to the JS thread
   * through the env's anchor (task_free). */
  /* On the JS thread a subscriber hears of it at once (TracingChannel
   * `error`); elsewhere only the recorded abort tells. */
  if (on_thread(t->q))
    nat__work_hook_call(nat__env_current(), NAT__WORK_ABORT, t->link_id, 0,
                        t->q->site);
  task_abort(t);
  return 0;
}

int nat__task_traceparent(const nat_task_t* t, char* buf) {
  if (t == NULL || buf == NULL) return NAT_EINVAL;
  return nat__traceparent_format(&t->tp, buf);
}

int nat__task_ids(const nat_task_t* t, nat_id_t* link_id, nat_id_t* ready_id) {
  if (t == NULL) return NAT_EINVAL;
  if (link_id != NULL) *link_id = t->link_id;
  if (ready_id != NULL) *ready_id = t->ready_id;
  return 0;
}

int nat__queue_acquire(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  if (atomic_load(&q->closing) || gate_enter(q) != 0) return NAT_ECLOSING;
  napi_status st = napi_acquire_threadsafe_function(q->tsfn);
  gate_leave(q);
  if (st != napi_ok) return st == napi_closing ? NAT_ECLOSING : NAT_ENAPI;
  atomic_fetch_add(&q->threads, 1);
  atomic_fetch_add(&q->refs, 1);
  return 0;
}

int nat__queue_release(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  /* A CAS loop, not fetch_sub then add back: an over-release must never
   * show a count below zero, which a concurrent release or acquire could
   * act on. Sequentially consistent, like every other access to the
   * counters here. */
  int64_t old = atomic_load(&q->threads);
  do {
    if (old <= 0) return NAT_EINVAL; /* more releases than references */
  } while (!atomic_compare_exchange_weak(&q->threads, &old, old - 1));
  if (old == 1) atomic_store(&q->closing, 1);
  if (gate_enter(q) == 0) {
    napi_release_threadsafe_function(q->tsfn, napi_tsfn_release);
    gate_leave(q);
  }
  /* After teardown the reference is still given back. */
  queue_unref_mem(q);
  return 0;
}

/*
 * Closes the queue for everybody and gives back no reference: the engine
 * cannot tell whether the caller holds one (an env cleanup hook whose
 * thread already released, say), and taking somebody else's would free
 * the queue under that thread. A caller that holds a reference still
 * gives it back with queue_release. Node is told through a reference of
 * the engine's own (acquire, then release with abort); when Node will no
 * longer take one (the last reference is gone and the queue is closing)
 * the dispatch drops what is still queued (queue_call_js_task reads
 * `aborted`).
 */
int nat__queue_abort(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  atomic_store(&q->closing, 1);
  atomic_store(&q->aborted, 1);
  wake_waiters(q);
  if (gate_enter(q) == 0) {
    if (napi_acquire_threadsafe_function(q->tsfn) == napi_ok)
      napi_release_threadsafe_function(q->tsfn, napi_tsfn_abort);
    gate_leave(q);
  }
  return 0;
}

static int queue_set_ref(napi_env env, nat_queue_t* q, int ref) {
  if (env == NULL || q == NULL) return NAT_EINVAL;
  if (!on_thread(q) || env != q->env) return NAT_EWRONGTHREAD;
  if (atomic_load(&q->closing)) return NAT_ECLOSING;
  napi_status st = ref ? napi_ref_threadsafe_function(env, q->tsfn)
                       : napi_unref_threadsafe_function(env, q->tsfn);
  if (st != napi_ok) return NAT_ENAPI;
  if (q->res != NULL) q->res->refed = ref;
  return 0;
}

int nat__queue_ref(napi_env env, nat_queue_t* q) {
  return queue_set_ref(env, q, 1);
}

int nat__queue_unref(napi_env env, nat_queue_t* q) {
  return queue_set_ref(env, q, 0);
}
