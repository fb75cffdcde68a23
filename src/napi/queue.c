/*
 * Tracked queues: the engine's own queue with the semantics of a
 * napi_threadsafe_function, where every work item (task) is one link, one
 * ready and one execution frame, dispatched in the async context of the
 * frame that linked it.
 *
 * Threads, grouped as in node_api.cc's ThreadSafeFunction:
 *   JS thread (the queue's env)  queue_create, queue_ref/unref, the
 *                                dispatch (on_async), the close path
 *                                (close_queue), env teardown (on_teardown).
 *   any thread                   queue_link, queue_link_into, queue_ready,
 *                                task_cancel, task_ids, queue_acquire,
 *                                queue_release, queue_abort.
 *
 * One owner per lifecycle. The queue is one state machine, `phase`:
 *   OPEN      links and readies are taken.
 *   RELEASED  the last thread reference was given back: no more links;
 *             readies of tasks already linked are still taken (a task is a
 *             reference), and what is queued still runs. The dispatch
 *             closes the queue the first time it finds it empty.
 *   ABORTED   queue_abort or env teardown: no more links or readies; the
 *             dispatch drops what is queued and closes the queue.
 *   CLOSED    the close path ran: the FIFO refuses pushes, every queued
 *             task ran or was dropped, finalize ran, the uv_async_t is
 *             closing. Only the JS thread moves a queue to CLOSED.
 * Phases only move forward (a CAS where two could race).
 *
 * Items travel in src/core/mpsc.c's lock-free FIFO; its one word carries
 * the wake-up (PENDING) and the close (CLOSING + a count of producers
 * inside). A producer sends the wake-up (uv_async_send) while it is still
 * counted inside, so the JS thread, which closes the FIFO (waiting for
 * that count to drain) before it closes the uv_async_t, never closes the
 * handle under a sender.
 *
 * The wake-up: a uv_async_t on the env's loop (napi_get_uv_event_loop),
 * not a threadsafe function used as a doorbell. A doorbell tsfn would put
 * Node's mutex, its std::queue (an allocation per call) and its own
 * callback scope back on every item, and its lifecycle beside ours (what
 * the first version of this file did, and where its use-after-frees
 * lived). The handle is ref'd like a tsfn's (queue_ref/unref), closed by
 * the close path, and at env teardown through an async cleanup hook
 * (napi_add_async_cleanup_hook), which lets its close callback run before
 * the env's loop is closed.
 *
 * Dispatch takes at most NAT__QUEUE_BATCH items per wake-up (node_api.cc
 * takes 1000) and re-arms itself for the rest, so a flood cannot starve
 * the loop. Each item runs through napi_make_callback from the loop, i.e.
 * in its own outermost callback scope: nextTicks and microtasks run
 * between items, as with a tsfn.
 *
 * Lifetimes. The queue's memory is reference counted (`refs`): one for the
 * JS side until the uv_async_t has closed, one per thread reference
 * (initial_thread_count, acquire; given back by release) and one per live
 * task. So a native thread that still holds a task or a reference after
 * the queue closed, or after the env was torn down, calls into valid
 * memory and gets NAT_ECLOSING.
 *
 * Task memory: the caller's (queue_link_into, ABI 1.1: storage of
 * task_size() bytes, like a uv_work_t) or the queue's freelist (queue_link):
 * a Treiber stack that any thread pushes to and one thread at a time pops
 * from (a try-lock; a thread that finds it taken allocates instead of
 * waiting), so it has no ABA problem. No allocation per item once the
 * pool covers the tasks in flight.
 */
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"

/* Most tasks dispatched per wake-up, as node_api.cc. */
#define NAT__QUEUE_BATCH 1000
/* Most tasks whose handles share one handle scope in a dispatch. */
#define NAT__QUEUE_SCOPE 16

enum { PHASE_OPEN = 0, PHASE_RELEASED = 1, PHASE_ABORTED = 2, PHASE_CLOSED = 3 };
enum { TASK_LINKED = 1, TASK_READY = 2, TASK_DONE = 3 };

/* State behind a queue's resource objects; read by their hasRef(). Owned
 * by the hasRef function (freed when it is collected); the queue writes it
 * only until it closes. JS thread. */
typedef struct {
  int refed;
} nat__res_state_t;

struct nat_task_s {
  nat__mpsc_node_t node; /* first: the FIFO's node is the task */
  nat_queue_t* q;
  uint64_t link_id;
  uint64_t ready_id;
  nat__async_t async; /* its own context; none: the queue's shared one */
  nat__traceparent_t tp; /* the requester's trace context (link time) */
  void* data;
  _Atomic int state;
  int pooled; /* from the queue's freelist (else the caller's storage) */
};

struct nat_queue_s {
  /* The FIFO: producers' line and the JS thread's line (nat__mpsc_t is
   * cache-line aligned inside). */
  nat__mpsc_t fifo;

  /* Counters shared by producers and the JS thread, on a line of their
   * own. Sequentially consistent unless a comment says otherwise. */
  _Alignas(64) _Atomic uint64_t refs;
  _Atomic int64_t threads; /* thread references not yet given back */
  _Atomic int phase;
  _Atomic size_t queued;   /* waiting for dispatch; kept only when bounded */
  _Atomic int waiters;     /* blocked readies */

  /* The freelist (src/core/pool.c: givers and the taker each on a line
   * of their own) and the slabs its tasks live in (freed with the queue). */
  nat__pool_t pool;
  struct slab_s* _Atomic slabs;

  /* Immutable after create. */
  _Alignas(64) napi_env env;
  uv_thread_t thread;
  uint32_t site;
  uint32_t env_serial;
  uint32_t flags;
  uint64_t creator_frame;
  size_t max_queue_size;
  void* context;
  nat_queue_call_js_t call_js;
  nat_queue_drop_t drop;
  nat_queue_finalize_t finalize;
  void* finalize_data;
  nat__anchor_t* anchor; /* the env's: closes task contexts on its thread */
  size_t name_len;
  char name[NAT_SITE_NAME_MAX + 1];

  /* The wake-up handle (producers send while counted inside the FIFO's
   * word; the JS thread owns the rest). */
  uv_async_t async;
  napi_async_cleanup_hook_handle teardown;

  /* JS thread only. */
  napi_ref func;       /* the queue's JS function, strong, or NULL */
  napi_ref ctor;       /* the class of the queue's resources, strong */
  nat__async_t shared; /* the creating frame's context */
  nat__res_state_t* res; /* NULL once closed */

  /* Blocking readies wait here while the queue is full. */
  uv_mutex_t wait_mu;
  uv_cond_t wait_cv;
};

static int on_thread(const nat_queue_t* q) {
  return nat__on_thread(&q->thread);
}

/* Pooled tasks come in slabs of NAT__SLAB: one allocation per 64 tasks
 * while the pool grows (a producer that runs ahead of the dispatch keeps
 * it growing), none once it covers the tasks in flight. */
#define NAT__SLAB 64
typedef struct slab_s {
  struct slab_s* next;
  nat_task_t tasks[NAT__SLAB];
} slab_t;

static void queue_free(nat_queue_t* q) {
  slab_t* s = atomic_load_explicit(&q->slabs, memory_order_acquire);
  while (s != NULL) {
    slab_t* next = s->next;
    free(s);
    s = next;
  }
  nat__anchor_unref(q->anchor);
  uv_cond_destroy(&q->wait_cv);
  uv_mutex_destroy(&q->wait_mu);
  free(q);
}

/* Gives back `n` references to the queue's memory. acq_rel: the last one
 * sees every other owner's writes before it frees. Any thread. */
static void queue_unref_mem(nat_queue_t* q, uint64_t n) {
  if (atomic_fetch_sub_explicit(&q->refs, n, memory_order_acq_rel) == n)
    queue_free(q);
}

/* ---- task memory -------------------------------------------------------- */

/* A task from the pool, or a new slab when it is empty (or contended).
 * Any thread. */
static nat_task_t* task_alloc(nat_queue_t* q) {
  nat_task_t* t = (nat_task_t*)nat__pool_take(&q->pool);
  if (t == NULL) {
    /* A new slab: one task for the caller, the rest to the pool in one
     * give. */
    slab_t* s = malloc(sizeof(*s));
    if (s == NULL) return NULL;
    s->next = atomic_load_explicit(&q->slabs, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &q->slabs, &s->next, s, memory_order_release, memory_order_relaxed)) {
    }
    for (int i = 1; i < NAT__SLAB - 1; i++)
      atomic_store_explicit(&s->tasks[i].node.next, &s->tasks[i + 1].node,
                            memory_order_relaxed);
    nat__pool_give(&q->pool, &s->tasks[1].node, &s->tasks[NAT__SLAB - 1].node);
    t = &s->tasks[0];
  }
  t->pooled = 1;
  return t;
}


/* Pooled tasks a dispatch loop is done with, given back in one CAS. JS
 * thread (a local of the loop). */
typedef struct {
  nat_task_t* first;
  nat_task_t* last;
} freed_t;

static void freed_flush(nat_queue_t* q, freed_t* f) {
  if (f->first != NULL)
    nat__pool_give(&q->pool, &f->first->node, &f->last->node);
  f->first = f->last = NULL;
}

/* The end of a task that did not run (cancelled, ready failed): its
 * context goes to the JS thread (the env's anchor, never blocking), its
 * memory back to the pool or to the caller. Any thread. */
static void task_end(nat_task_t* t) {
  nat_queue_t* q = t->q;
  nat__async_close_from(q->anchor, q->env, &t->async);
  if (t->pooled) nat__pool_give(&q->pool, &t->node, &t->node);
  queue_unref_mem(q, 1);
}

static void task_abort(nat_task_t* t) {
  nat_queue_t* q = t->q;
  nat__emit(NAT_EV_ABORT, 0, t->link_id, t->ready_id, q->site, q->env_serial);
  task_end(t);
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

/* ---- waking blocked readies --------------------------------------------- */

/* A slot was freed or the queue closed: wake blocked readies. The counter
 * update before this and the waiters load are sequentially consistent, and
 * a waiter counts itself before it re-checks under the lock, so a wake-up
 * is never lost. Any thread. */
static void wake_waiters(nat_queue_t* q) {
  if (atomic_load(&q->waiters) == 0) return;
  uv_mutex_lock(&q->wait_mu);
  uv_cond_broadcast(&q->wait_cv);
  uv_mutex_unlock(&q->wait_mu);
}

/* Asks the JS thread to look at the queue (a phase change). Any thread. */
static void poke(nat_queue_t* q) {
  if (nat__mpsc_push(&q->fifo, NULL) == 1) {
    uv_async_send(&q->async);
    nat__mpsc_leave(&q->fifo);
  }
}

/* ---- dispatch (JS thread) ----------------------------------------------- */

typedef struct {
  nat_queue_t* q;
  napi_env env;
  napi_value js_cb;
  void* data;
} dispatch_t;

/* The user's part of a dispatch, inside the task's callback scope. */
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

/* A JS exception the callback left pending is reported as uncaught once
 * the dispatch is over (frame ended, work hook's END run), as Node does
 * after a threadsafe function's call_js. */
static void report_exception(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exc) == napi_ok)
    napi_fatal_exception(env, exc);
}

/* Runs one task that was made ready and frees it; the caller gives back
 * its reference to the queue's memory (in a batch). The task is the
 * caller's memory once call_js starts (it may reuse it there), so all we
 * need afterwards is copied out first. */
static void dispatch_task(nat_queue_t* q, nat_task_t* t, napi_value js_cb,
                          napi_value shared_res, freed_t* freed) {
  napi_env env = q->env;
  nat__async_t own = t->async;
  uint64_t ready_id = t->ready_id;
  uint64_t link_id = t->link_id;
  int pooled = t->pooled;
  dispatch_t d = {q, env, js_cb, t->data};
  atomic_store_explicit(&t->state, TASK_DONE, memory_order_relaxed);
  if (pooled) {
    /* Given back by the caller with the rest of its batch. */
    atomic_store_explicit(&t->node.next, (nat__mpsc_node_t*)freed->first,
                          memory_order_relaxed);
    if (freed->first == NULL) freed->last = t;
    freed->first = t;
  }

  /* A task without a context of its own (linked on another thread, or a
   * shared-context queue) runs in the queue's, made in the creating
   * frame (whose resource value the caller fetched once). Either way one
   * callback scope (nat__dispatch), the only one: no threadsafe
   * function's scope around it. The caller provides the handle scope. */
  if (nat__async_held(&own))
    nat__dispatch(env, q->site, ready_id, link_id, 1, &own, run_user, &d);
  else
    nat__dispatch_res(env, q->site, ready_id, link_id, 1, &q->shared,
                      shared_res, run_user, &d);
  report_exception(env);
  nat__async_close(env, &own);
}

static void drop_task(nat_queue_t* q, nat_task_t* t) {
  if (q->drop != NULL) q->drop(q->context, t->data);
  atomic_store_explicit(&t->state, TASK_DONE, memory_order_relaxed);
  task_abort(t);
}

static void on_closed(uv_handle_t* h);

/*
 * The close path: JS thread, once. Refuses further pushes (and waits for
 * producers inside to leave), runs or drops what is left (`drop`: aborted
 * or torn down), finalizes, and closes the uv_async_t; its close callback
 * gives back the JS side's reference. `js` is 0 at env teardown: no JS
 * may run, so what is left is dropped.
 */
static void close_queue(nat_queue_t* q, int run_rest, int js) {
  nat__mpsc_close(&q->fifo);
  int retry;
  nat__mpsc_node_t* n;
  uint64_t done = 0, ran = 0;
  while ((n = nat__mpsc_pop(&q->fifo, &retry)) != NULL) {
    nat_task_t* t = (nat_task_t*)n;
    if (run_rest && js) {
      napi_handle_scope hs;
      napi_value js_cb = NULL;
      if (napi_open_handle_scope(q->env, &hs) != napi_ok) hs = NULL;
      if (q->func != NULL) napi_get_reference_value(q->env, q->func, &js_cb);
      freed_t freed = {NULL, NULL};
      dispatch_task(q, t, js_cb, NULL, &freed);
      freed_flush(q, &freed);
      if (hs != NULL) napi_close_handle_scope(q->env, hs);
      ran++;
    } else {
      drop_task(q, t);
    }
    done++;
  }
  if (done != 0 && q->max_queue_size != 0)
    atomic_fetch_sub(&q->queued, done);
  /* Never the last reference: the JS side's goes in on_closed. */
  if (ran != 0) queue_unref_mem(q, ran);
  atomic_store(&q->phase, PHASE_CLOSED);
  wake_waiters(q);

  napi_env env = q->env;
  if (q->res != NULL) q->res->refed = 0;
  q->res = NULL;
  if (q->finalize != NULL) {
    /* As a threadsafe function's finalize_cb: inside a handle scope and,
     * while JS may run, a callback scope (the queue's context), so that
     * it may call into JS (not at env teardown). */
    napi_handle_scope hs;
    napi_callback_scope cs = NULL;
    napi_value resource;
    if (napi_open_handle_scope(env, &hs) != napi_ok) hs = NULL;
    if (js && q->shared.ctx != NULL &&
        napi_get_reference_value(env, q->shared.resource, &resource) ==
            napi_ok &&
        napi_open_callback_scope(env, resource, q->shared.ctx, &cs) !=
            napi_ok)
      cs = NULL;
    q->finalize(env, q->finalize_data, q->context);
    if (cs != NULL) napi_close_callback_scope(env, cs);
    bool pending = false;
    napi_value exc;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &exc) == napi_ok && js)
      napi_fatal_exception(env, exc);
    if (hs != NULL) napi_close_handle_scope(env, hs);
  }
  nat__async_close(env, &q->shared);
  if (q->func != NULL) napi_delete_reference(env, q->func);
  if (q->ctor != NULL) napi_delete_reference(env, q->ctor);
  q->func = NULL;
  q->ctor = NULL;
  uv_close((uv_handle_t*)&q->async, on_closed);
}

static void on_closed(uv_handle_t* h) {
  nat_queue_t* q = h->data;
  if (q->teardown != NULL) napi_remove_async_cleanup_hook(q->teardown);
  q->teardown = NULL;
  queue_unref_mem(q, 1);
}

/* The wake-up: JS thread. */
static void on_async(uv_async_t* h) {
  nat_queue_t* q = h->data;
  if (atomic_load(&q->phase) == PHASE_CLOSED) return;
  nat__mpsc_begin(&q->fifo);
  int retry = 0, more = 0;
  uint64_t done = 0;
  freed_t freed = {NULL, NULL};
  /* The queue's function and its shared context's resource, fetched once
   * per wake-up. The items' handles go in a handle scope shared by up to
   * NAT__QUEUE_SCOPE items: Node-API allocates each scope it opens, and a
   * few items' handles living a little longer cost nothing. */
  napi_handle_scope hs, inner = NULL;
  napi_value js_cb = NULL, shared_res = NULL;
  uint32_t in_scope = 0;
  if (napi_open_handle_scope(q->env, &hs) != napi_ok) hs = NULL;
  if (q->func != NULL) napi_get_reference_value(q->env, q->func, &js_cb);
  if (q->shared.resource != NULL &&
      napi_get_reference_value(q->env, q->shared.resource, &shared_res) !=
          napi_ok)
    shared_res = NULL;
  for (;;) {
    if (atomic_load(&q->phase) == PHASE_ABORTED) break;
    if (done == NAT__QUEUE_BATCH) {
      more = 1;
      break;
    }
    nat__mpsc_node_t* n = nat__mpsc_pop(&q->fifo, &retry);
    if (n == NULL) break;
    done++;
    if (inner == NULL || in_scope == NAT__QUEUE_SCOPE) {
      if (inner != NULL) napi_close_handle_scope(q->env, inner);
      if (napi_open_handle_scope(q->env, &inner) != napi_ok) inner = NULL;
      in_scope = 0;
    }
    in_scope++;
    dispatch_task(q, (nat_task_t*)n, js_cb, shared_res, &freed);
  }
  freed_flush(q, &freed);
  if (inner != NULL) napi_close_handle_scope(q->env, inner);
  if (hs != NULL) napi_close_handle_scope(q->env, hs);
  if (done != 0) {
    if (q->max_queue_size != 0) {
      atomic_fetch_sub(&q->queued, done);
      wake_waiters(q);
    }
    /* The tasks' references, in one go; never the last one (the JS side
     * holds its own until on_closed). */
    queue_unref_mem(q, done);
  }
  int phase = atomic_load(&q->phase);
  if (phase == PHASE_ABORTED) {
    close_queue(q, 0, 1);
  } else if (more) {
    /* The rest on the next loop iteration: we are the consumer and the
     * handle is open, so sending here is safe. */
    if (nat__mpsc_rearm(&q->fifo)) uv_async_send(&q->async);
  } else if (phase == PHASE_RELEASED && !retry) {
    /* Released and empty (no producer between its steps either). */
    close_queue(q, 1, 1);
  }
}

/* Env teardown (Worker terminated, process exiting): JS thread; no JS may
 * run. Drops what is queued, finalizes, closes the handle; the close
 * callback removes the hook, which tells Node we are done. */
static void on_teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  nat_queue_t* q = arg;
  (void)handle; /* the one stored at add time, removed by on_closed */
  int phase = atomic_load(&q->phase);
  if (phase == PHASE_CLOSED) return; /* on_closed will remove the hook */
  atomic_store(&q->phase, PHASE_ABORTED);
  close_queue(q, 0, 0);
}

/* ---- the API table entries ---------------------------------------------- */

/* The options this build knows: the size of version 1.0 of the struct. */
#define NAT__QUEUE_OPTIONS_V1 \
  (offsetof(nat_queue_options_t, finalize_data) + sizeof(void*))

int nat__queue_create(napi_env env, const nat_queue_options_t* o,
                      nat_queue_t** out) {
  if (env == NULL || o == NULL || out == NULL) return NAT_EINVAL;
  *out = NULL;
  /* The thread count is kept in a signed 64-bit word: more than INT64_MAX
   * initial references is NAT_EINVAL. */
  if (o->struct_size < NAT__QUEUE_OPTIONS_V1 || o->name == NULL ||
      o->initial_thread_count == 0 ||
      (uint64_t)o->initial_thread_count > (uint64_t)INT64_MAX ||
      (o->func == NULL && o->call_js == NULL) ||
      (o->flags & ~NAT_QUEUE_SHARED_CONTEXT) != 0)
    return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  if (e == NULL || e->closing) return NAT_EWRONGTHREAD;

  size_t len;
  int32_t site = nat__intern_name(o->name, &len);
  if (site < 0) return site;

  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL)
    return NAT_ENAPI;

  nat_queue_t* q = aligned_alloc(64, (sizeof(*q) + 63) & ~(size_t)63);
  nat__res_state_t* res = calloc(1, sizeof(*res));
  if (q == NULL || res == NULL) {
    free(q);
    free(res);
    return NAT_ENOMEM;
  }
  memset(q, 0, sizeof(*q));
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
  nat__mpsc_init(&q->fifo);
  nat__pool_init(&q->pool);
  q->env = env;
  q->anchor = e->anchor;
  nat__anchor_ref(q->anchor);
  q->thread = uv_thread_self();
  q->site = (uint32_t)site;
  q->env_serial = e->serial;
  q->flags = o->flags;
  q->creator_frame = nat__frame_current(e);
  q->max_queue_size = o->max_queue_size;
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
    free(res);
    queue_free(q);
    return NAT_ENAPI;
  }
  int err = NAT_ENAPI;
  napi_value ctor, name, resource, has_ref, maker, undefined;
  /* One class per queue whose prototype carries hasRef (a native function
   * over `res`, which it owns): made by a JS function, once per env, so
   * that constructing a resource runs no native code (napi_new_instance
   * of a native constructor, or setting hasRef on a plain object, cost
   * 1,300 and 2,000 instructions per task on Node 20; this costs a few
   * hundred). Every resource keeps its prototype, hence hasRef and `res`,
   * alive. */
  if (napi_create_function(env, "hasRef", NAPI_AUTO_LENGTH, js_has_ref, res,
                           &has_ref) != napi_ok ||
      napi_add_finalizer(env, has_ref, res, res_state_free, NULL, NULL) !=
          napi_ok)
    goto fail_res;
  /* From here `res` belongs to the function. */
  q->res = res;
  res = NULL;
  if (nat__resource_maker(e, &maker) != 0 ||
      napi_get_undefined(env, &undefined) != napi_ok ||
      napi_call_function(env, undefined, maker, 1, &has_ref, &ctor) !=
          napi_ok ||
      napi_create_reference(env, ctor, 1, &q->ctor) != napi_ok ||
      napi_create_string_utf8(env, q->name, len, &name) != napi_ok ||
      (o->func != NULL &&
       napi_create_reference(env, o->func, 1, &q->func) != napi_ok) ||
      napi_new_instance(env, ctor, 0, NULL, &resource) != napi_ok ||
      napi_async_init(env, resource, name, &q->shared.ctx) != napi_ok ||
      napi_create_reference(env, resource, 1, &q->shared.resource) != napi_ok)
    goto fail;
  if (uv_async_init(loop, &q->async, on_async) != 0) goto fail;
  q->async.data = q;
  /* One reference per initial thread, one for the JS side (given back
   * when the handle has closed). */
  atomic_store(&q->refs, (uint64_t)o->initial_thread_count + 1);
  atomic_store(&q->threads, (int64_t)o->initial_thread_count);
  atomic_store(&q->phase, PHASE_OPEN);
  if (napi_add_async_cleanup_hook(env, on_teardown, q, &q->teardown) !=
      napi_ok) {
    q->teardown = NULL;
    /* Without it a torn-down env would leave the handle open: close now. */
    atomic_store(&q->refs, 1);
    atomic_store(&q->threads, 0);
    atomic_store(&q->phase, PHASE_ABORTED);
    q->finalize = NULL;
    close_queue(q, 0, 1);
    napi_close_handle_scope(env, hs);
    return NAT_ENAPI;
  }
  q->res->refed = 1;
  napi_close_handle_scope(env, hs);
  *out = q;
  return 0;

fail_res:
  free(res);
fail:
  nat__async_close(env, &q->shared);
  if (q->func != NULL) napi_delete_reference(env, q->func);
  if (q->ctor != NULL) napi_delete_reference(env, q->ctor);
  napi_close_handle_scope(env, hs);
  queue_free(q);
  return err;
}

/* A task's own context, in the linking frame: a resource object of the
 * queue's class (hasRef on its prototype) and napi_async_init with the
 * queue's type-name string, so async_hooks sees it triggered by the
 * requester, and napi_make_callback later restores the requester's
 * AsyncLocalStorage store. JS thread. On failure the task runs in the
 * queue's shared context. */
static void task_context(nat_queue_t* q, nat_task_t* t) {
  napi_env env = q->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value ctor, name, resource;
  /* The type name is made per task: cheaper than any way to keep it (a
   * string cannot be referenced on Node 20; an array element read costs
   * more than the short string). */
  if (napi_get_reference_value(env, q->ctor, &ctor) == napi_ok &&
      napi_create_string_utf8(env, q->name, q->name_len, &name) == napi_ok &&
      napi_new_instance(env, ctor, 0, NULL, &resource) == napi_ok &&
      napi_async_init(env, resource, name, &t->async.ctx) == napi_ok &&
      napi_create_reference(env, resource, 1, &t->async.resource) !=
          napi_ok) {
    napi_async_destroy(env, t->async.ctx);
    t->async.ctx = NULL;
  }
  napi_close_handle_scope(env, hs);
}

static int queue_link_task(nat_queue_t* q, nat_task_t* t) {
  t->q = q;
  t->ready_id = 0;
  t->data = NULL;
  t->async.ctx = NULL;
  t->async.resource = NULL;
  t->tp.set = 0; /* pooled memory: nothing captured until asked */
  atomic_store_explicit(&t->state, TASK_LINKED, memory_order_relaxed);
  uint64_t frame = q->creator_frame;
  if (on_thread(q)) {
    nat__env_t* e = nat__env_current();
    if (e != NULL) frame = nat__frame_current(e);
    if ((q->flags & NAT_QUEUE_SHARED_CONTEXT) == 0) task_context(q, t);
    /* Before the link is recorded, so the link hook sees the task whole;
     * a plain store published to other threads by the push. */
    if (e != NULL && e->link_ctx_fn != NULL) nat__link_context(e, &t->tp);
  }
  nat__mark_link(q->site, q->env_serial, frame, &t->link_id);
  return 0;
}

/* Counts a live task unless the queue no longer takes links. The check
 * and the count are not one step: a link racing the last release may be
 * taken; its task then behaves as one linked just before (its ready may
 * still run it, or fail with NAT_ECLOSING once the queue closed). */
static int link_enter(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  if (atomic_load(&q->phase) != PHASE_OPEN) return NAT_ECLOSING;
  atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
  return 0;
}

int nat__queue_link(nat_queue_t* q, nat_task_t** out) {
  if (out == NULL) return NAT_EINVAL;
  *out = NULL;
  int err = link_enter(q);
  if (err != 0) return err;
  nat_task_t* t = task_alloc(q);
  if (t == NULL) {
    queue_unref_mem(q, 1);
    return NAT_ENOMEM;
  }
  queue_link_task(q, t);
  *out = t;
  return 0;
}

size_t nat__task_size(void) {
  return (sizeof(nat_task_t) + 15) & ~(size_t)15;
}

int nat__queue_link_into(nat_queue_t* q, void* storage, nat_task_t** out) {
  if (out == NULL) return NAT_EINVAL;
  *out = NULL;
  if (storage == NULL || ((uintptr_t)storage & 7) != 0) return NAT_EINVAL;
  int err = link_enter(q);
  if (err != 0) return err;
  nat_task_t* t = storage;
  t->pooled = 0;
  queue_link_task(q, t);
  *out = t;
  return 0;
}

/* Takes a slot of a bounded queue; with `block`, waits for one. 0, or
 * NAT_EFULL / NAT_ECLOSING. Any thread (block only off the JS thread). */
static int take_slot(nat_queue_t* q, int block) {
  size_t max = q->max_queue_size;
  for (;;) {
    size_t n = atomic_load(&q->queued);
    while (n < max)
      if (atomic_compare_exchange_weak(&q->queued, &n, n + 1)) return 0;
    if (!block) return NAT_EFULL;
    uv_mutex_lock(&q->wait_mu);
    atomic_fetch_add(&q->waiters, 1);
    /* Re-checked after counting ourselves: the dispatch lowers `queued`
     * before it loads `waiters` (both sequentially consistent). */
    while (atomic_load(&q->queued) >= max &&
           atomic_load(&q->phase) < PHASE_ABORTED)
      uv_cond_wait(&q->wait_cv, &q->wait_mu);
    atomic_fetch_sub(&q->waiters, 1);
    uv_mutex_unlock(&q->wait_mu);
    if (atomic_load(&q->phase) >= PHASE_ABORTED) return NAT_ECLOSING;
  }
}

int nat__queue_ready(nat_task_t* t, void* data,
                     napi_threadsafe_function_call_mode mode) {
  if (t == NULL) return NAT_EINVAL;
  if (mode != napi_tsfn_blocking && mode != napi_tsfn_nonblocking)
    return NAT_EINVAL;
  /* Only the thread that owns the task makes it ready (the header's rule),
   * so a load and a store suffice to tell a second ready (NAT_EALREADY). */
  if (atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_LINKED)
    return NAT_EALREADY;
  atomic_store_explicit(&t->state, TASK_READY, memory_order_relaxed);
  nat_queue_t* q = t->q;
  int js = on_thread(q);

  /* The task may be run and freed as soon as it is pushed: everything
   * recorded is copied first. */
  uint64_t exec = 0;
  if (js) {
    nat__env_t* e = nat__env_current();
    if (e != NULL) exec = nat__frame_current(e);
  }
  uint64_t link_id = t->link_id, ready_id = 0;
  uint32_t site = q->site, env_serial = q->env_serial;
  if (atomic_load_explicit(&q->phase, memory_order_relaxed) >=
      PHASE_ABORTED) {
    atomic_store_explicit(&t->state, TASK_DONE, memory_order_relaxed);
    task_abort(t);
    return NAT_ECLOSING;
  }
  if (nat__is_enabled()) {
    /* Recorded before the push, so the record is in the ring before the
     * callback can run (and be drained): a drain in or after the callback
     * always finds the ready that caused it. A full queue takes it back
     * with a readyFailed record. */
    ready_id = nat__id_next();
    nat__emit_owed(NAT_EV_READY, exec, link_id, ready_id, site, env_serial);
  }
  int err = 0;
  if (q->max_queue_size != 0)
    err = take_slot(q, mode == napi_tsfn_blocking && !js);
  if (err == NAT_EFULL) {
    if (ready_id != 0)
      nat__emit_owed(NAT_EV_READY_FAILED, exec, link_id, ready_id, site,
                     env_serial);
    atomic_store_explicit(&t->state, TASK_LINKED, memory_order_relaxed);
    return NAT_EFULL;
  }
  t->ready_id = ready_id;
  t->data = data;
  if (err == 0) {
    int r = nat__mpsc_push(&q->fifo, &t->node);
    if (r == 1) {
      /* Still counted inside the FIFO's word: the handle cannot close
       * under this send. */
      uv_async_send(&q->async);
      nat__mpsc_leave(&q->fifo);
    }
    /* On success neither t nor q may be touched now: the dispatch may
     * have freed the task and, with it, the queue's last reference. */
    if (r >= 0) return 0;
    if (q->max_queue_size != 0) {
      atomic_fetch_sub(&q->queued, 1);
      wake_waiters(q);
    }
  }
  /* Closing: the task will never run; the abort names the ready too. */
  atomic_store_explicit(&t->state, TASK_DONE, memory_order_relaxed);
  task_abort(t);
  return NAT_ECLOSING;
}

int nat__task_cancel(nat_task_t* t) {
  if (t == NULL) return NAT_EINVAL;
  int expected = TASK_LINKED;
  if (!atomic_compare_exchange_strong(&t->state, &expected, TASK_DONE))
    return NAT_EALREADY;
  /* Never blocks: a context of the task's own goes to the JS thread
   * through the env's anchor (task_end). */
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
  /* A thread that acquires holds a reference or a task already (or is the
   * JS thread before finalize): the memory is valid. A CAS so that an
   * acquire never revives a count that reached zero. */
  int64_t n = atomic_load(&q->threads);
  do {
    if (n <= 0 || atomic_load(&q->phase) != PHASE_OPEN) return NAT_ECLOSING;
  } while (!atomic_compare_exchange_weak(&q->threads, &n, n + 1));
  atomic_fetch_add(&q->refs, 1);
  return 0;
}

int nat__queue_release(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  /* A CAS loop, not fetch_sub then add back: an over-release must never
   * show a count below zero, which a concurrent release or acquire could
   * act on. */
  int64_t old = atomic_load(&q->threads);
  do {
    if (old <= 0) return NAT_EINVAL; /* more releases than references */
  } while (!atomic_compare_exchange_weak(&q->threads, &old, old - 1));
  if (old == 1) {
    int phase = PHASE_OPEN;
    if (atomic_compare_exchange_strong(&q->phase, &phase, PHASE_RELEASED))
      poke(q); /* the dispatch closes the queue once it is empty */
  }
  /* After the queue closed the reference is still given back. */
  queue_unref_mem(q, 1);
  return 0;
}

/*
 * Closes the queue for everybody and gives back no reference: the engine
 * cannot tell whether the caller holds one (an env cleanup hook whose
 * thread already released, say), and taking somebody else's would free
 * the queue under that thread. A caller that holds a reference still
 * gives it back with queue_release. The caller must hold a reference or a
 * task, or be the JS thread before finalize (the handle must be valid).
 */
int nat__queue_abort(nat_queue_t* q) {
  if (q == NULL) return NAT_EINVAL;
  int phase = atomic_load(&q->phase);
  while (phase < PHASE_ABORTED)
    if (atomic_compare_exchange_weak(&q->phase, &phase, PHASE_ABORTED)) {
      wake_waiters(q);
      poke(q);
      break;
    }
  return 0;
}

static int queue_set_ref(napi_env env, nat_queue_t* q, int ref) {
  if (env == NULL || q == NULL) return NAT_EINVAL;
  if (!on_thread(q) || env != q->env) return NAT_EWRONGTHREAD;
  if (atomic_load(&q->phase) != PHASE_OPEN) return NAT_ECLOSING;
  if (ref)
    uv_ref((uv_handle_t*)&q->async);
  else
    uv_unref((uv_handle_t*)&q->async);
  if (q->res != NULL) q->res->refed = ref;
  return 0;
}

int nat__queue_ref(napi_env env, nat_queue_t* q) {
  return queue_set_ref(env, q, 1);
}

int nat__queue_unref(napi_env env, nat_queue_t* q) {
  return queue_set_ref(env, q, 0);
}
