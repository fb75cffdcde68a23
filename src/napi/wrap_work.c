/*
 * Replacements for an unmodified addon's napi_create/queue/delete_async_work.
 *
 * Per queued run: `link` in the current JS frame at napi_queue_async_work;
 * on the pool thread, when execute starts, `ready` of it (by 0: the pool
 * picked it up) and an execution frame, inside which the completion is
 * linked; when execute returns, the completion's `ready` (by the pool
 * frame) and the frame's end; on the JS thread, an execution frame around
 * the addon's complete, run in the async context of the frame that queued
 * the run (napi_async_init at queue time, entered with napi_make_callback).
 * So a site shows queue wait (link -> pool ready), pool run (the pool
 * frame) and loop wait (completion ready -> complete's frame).
 *
 * Node gets our execute/complete with our record as data; the addon keeps
 * Node's napi_async_work, found again through the env's handle map.
 * napi_cancel_async_work needs no replacement: Node then calls our
 * complete with napi_cancelled, which records the abort.
 *
 * Threads: everything on the JS thread of the env that created the work,
 * except work_execute (a pool thread), which reads link_id/site (written
 * before napi_queue_async_work; libuv's queue orders them before the pool
 * reads) and writes ready_id (read by complete after libuv's completion
 * handoff, which orders it).
 */
#include <string.h>

#include "nat_wrap.h"

enum { WORK_IDLE = 0, WORK_QUEUED = 1, WORK_COMPLETING = 2 };

typedef struct {
  _Atomic uint32_t kind; /* NAT__WKIND_WORK; first, as in every slot */
  uint32_t site;
  nat__wenv_t* w;
  napi_async_work work; /* Node's handle: the key in w->works */
  napi_async_execute_callback execute;
  napi_async_complete_callback complete;
  void* data;
  int state;   /* WORK_*, JS thread */
  int deleted; /* napi_delete_async_work came while the run was not over */
  uint64_t link_id;  /* of the current run, 0 when not recorded */
  uint64_t ready_id; /* the completion's ready, 0 when not recorded */
  nat__async_t async; /* the requester's context of the current run */
} wwork_t;

_Static_assert(sizeof(wwork_t) <= NAT__WSLOT_SIZE, "wwork_t fits a slot");

static void wwork_free(wwork_t* r) {
  nat__wenv_t* w = r->w;
  nat__warena_put(r);
  nat__wenv_unref(w);
}

/* Pool thread. */
static void work_execute(napi_env env, void* data) {
  wwork_t* r = data;
  uint32_t serial = r->w->serial; /* w outlives r */
  uint64_t picked = 0, frame = 0, done = 0, ready = 0;
  if (r->link_id != 0) {
    nat__mark_ready(r->site, serial, 0, r->link_id, &picked);
    if (picked != 0) {
      frame = nat__id_next();
      nat__emit_owed(NAT_EV_EXECUTION_BEGIN, frame, 0, picked, r->site,
                   serial);
      nat__mark_link(r->site, serial, frame, &done);
    }
  }
  r->execute(env, r->data);
  if (done != 0) nat__mark_ready(r->site, serial, frame, done, &ready);
  r->ready_id = ready;
  if (frame != 0)
    nat__emit_owed(NAT_EV_EXECUTION_END, frame, 0, 0, r->site, serial);
}

typedef struct {
  wwork_t* r;
  napi_env env;
  napi_status status;
} complete_t;

static void run_complete(void* arg) {
  complete_t* c = arg;
  c->r->complete(c->env, c->status, c->r->data);
}

/* JS thread, called by Node inside its own scope for the addon's env. */
static void work_complete(napi_env env, napi_status status, void* data) {
  wwork_t* r = data;
  nat__wenv_t* w = r->w;
  int cancelled = status == napi_cancelled;
  nat__async_t async = r->async;
  memset(&r->async, 0, sizeof(r->async));
  uint64_t ready = r->ready_id;
  uint64_t link = r->link_id;
  if (cancelled && r->link_id != 0 && nat__is_enabled())
    nat__emit(NAT_EV_ABORT, 0, r->link_id, 0, r->site, w->serial);
  r->link_id = 0;
  r->ready_id = 0;
  /* The run is over for the addon: complete may queue the work again (a
   * new run with its own context) or delete it (freed below, after the
   * call, never during it). */
  r->state = WORK_COMPLETING;
  complete_t c = {r, env, status};
  if (w->dead || !nat__async_held(&async))
    run_complete(&c);
  else
    nat__wrap_dispatch(w, env, r->site, ready, link,
                       !cancelled && ready != 0, &async, run_complete, &c);
  if (!w->dead) nat__async_close(w->env, &async);
  if (r->state == WORK_COMPLETING) r->state = WORK_IDLE;
  if (r->deleted) wwork_free(r);
}

napi_status nat__wrap_create_async_work(
    napi_env env, napi_value async_resource, napi_value async_resource_name,
    napi_async_execute_callback execute, napi_async_complete_callback complete,
    void* data, napi_async_work* result) {
  void* caller = __builtin_return_address(0);
  nat__wenv_t* w;
  wwork_t* r;
  /* Work without complete has no JS-thread end to attribute: left as is,
   * so Node keeps skipping its callback scope exactly as before. */
  if (!nat__is_enabled() || execute == NULL || complete == NULL ||
      result == NULL || (w = nat__wenv_current()) == NULL || w->dead ||
      !nat__on_thread(&w->thread))
    return napi_create_async_work(env, async_resource, async_resource_name,
                                  execute, complete, data, result);
  if (nat__wmap_reserve(&w->works) != 0 ||
      (r = nat__warena_get(NAT__WKIND_WORK, sizeof(wwork_t))) == NULL) {
    atomic_fetch_add_explicit(&nat__wrap_untraced, 1, memory_order_relaxed);
    return napi_create_async_work(env, async_resource, async_resource_name,
                                  execute, complete, data, result);
  }
  r->w = w;
  r->execute = execute;
  r->complete = complete;
  r->data = data;
  r->site = nat__wrap_site(caller, env, async_resource_name, "work");
  napi_status st =
      napi_create_async_work(env, async_resource, async_resource_name,
                             work_execute, work_complete, r, result);
  if (st != napi_ok) {
    nat__warena_put(r);
    return st;
  }
  r->work = *result;
  nat__wmap_put(&w->works, *result, r); /* reserved above: cannot fail */
  nat__wenv_ref(w);
  return st;
}

napi_status nat__wrap_queue_async_work(napi_env env, napi_async_work work) {
  nat__wenv_t* w = nat__wenv_peek();
  wwork_t* r = w != NULL ? nat__wmap_get(&w->works, work) : NULL;
  /* Not ours, or queued twice (Node's business, not ours to hide). */
  if (r == NULL || r->state == WORK_QUEUED || w->dead)
    return napi_queue_async_work(env, work);
  nat__env_t* e = nat__env_current();
  if (nat__wrap_async_open(w, r->site, &r->async) != 0)
    atomic_fetch_add_explicit(&nat__wrap_untraced, 1, memory_order_relaxed);
  r->ready_id = 0;
  nat__mark_link(r->site, w->serial, e != NULL ? nat__frame_current(e) : 0,
                 &r->link_id);
  int was = r->state;
  r->state = WORK_QUEUED;
  napi_status st = napi_queue_async_work(env, work);
  if (st != napi_ok) {
    r->state = was;
    if (r->link_id != 0)
      nat__emit(NAT_EV_ABORT, 0, r->link_id, 0, r->site, w->serial);
    r->link_id = 0;
    nat__async_close(w->env, &r->async);
  }
  return st;
}

napi_status nat__wrap_delete_async_work(napi_env env, napi_async_work work) {
  nat__wenv_t* w = nat__wenv_peek();
  wwork_t* r = w != NULL ? nat__wmap_get(&w->works, work) : NULL;
  if (r == NULL) return napi_delete_async_work(env, work);
  nat__wmap_del(&w->works, work);
  napi_status st = napi_delete_async_work(env, work);
  if (r->state == WORK_IDLE) {
    wwork_free(r);
  } else {
    /* Inside complete: freed when it returns. Still queued: Node-API says
     * delete only after complete; Node may still run our callbacks with
     * this record, so it stays (and is freed if complete ever runs); the
     * run is reported as aborted now so it does not stay pending. */
    if (r->state == WORK_QUEUED && r->link_id != 0 && nat__is_enabled())
      nat__emit(NAT_EV_ABORT, 0, r->link_id, 0, r->site, w->serial);
    r->deleted = 1;
  }
  return st;
}
