/*
 * Tracked async work: napi_create_async_work with one link per queued run
 * (in the frame that queued it), one ready when execute returns on the
 * libuv pool, and one execution frame around complete, which runs in the
 * async context of the frame that queued the run.
 *
 * Threads: everything on the JS thread of the env that created the work,
 * except work_execute (a pool thread), which touches only `ready_id` and
 * `state` (atomics) and the core's rings.
 */
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"

/*
 * The states of the one run a work has at a time. IDLE: nothing queued
 * (never queued, or the last run completed). QUEUED: waiting for a pool
 * thread. RUNNING: execute started (it may have returned: complete is
 * pending and will get napi_ok). CANCELLED: cancelled while queued,
 * complete (napi_cancelled) is pending.
 */
enum {
  WORK_IDLE = 0,
  WORK_QUEUED = 1,
  WORK_RUNNING = 2,
  WORK_CANCELLED = 3
};

struct nat_work_s {
  napi_env env;
  uv_thread_t thread;
  uint32_t site;
  uint32_t env_serial;
  nat_work_execute_t execute;
  nat_work_complete_t complete;
  void* data;
  napi_async_work work;
  size_t name_len;
  char name[NAT_SITE_NAME_MAX + 1];

  /* One run at a time. link_id and async are set by work_queue before
   * napi_queue_async_work and read by complete (JS thread). */
  uint64_t link_id;
  nat__async_t async;
  /* The requester's trace context: written by work_queue before
   * napi_queue_async_work (which publishes it to the pool thread), read
   * by execute and complete. */
  nat__traceparent_t tp;
  _Atomic uint64_t ready_id; /* written on the pool, read by complete */
  _Atomic int state;
};

static int on_thread(const nat_work_t* w) {
  return nat__on_thread(&w->thread);
}

/* Pool thread. */
static void work_execute(napi_env env, void* data) {
  (void)env;
  nat_work_t* w = data;
  /* A cancel that lost the race to libuv (its CAS won, uv_cancel did not)
   * puts RUNNING back itself; a plain store is enough here. */
  atomic_store(&w->state, WORK_RUNNING);
  if (w->execute != NULL) w->execute(w->data);
  uint64_t ready_id = 0;
  nat__mark_ready(w->site, w->env_serial, 0, w->link_id, &ready_id);
  atomic_store(&w->ready_id, ready_id);
}

typedef struct {
  nat_work_t* w;
  napi_env env;
  napi_status status;
} complete_t;

static void run_user(void* arg) {
  complete_t* c = arg;
  if (c->w->complete != NULL) c->w->complete(c->env, c->status, c->w->data);
}

/* JS thread. */
static void work_complete(napi_env env, napi_status status, void* data) {
  nat_work_t* w = data;
  int cancelled = status == napi_cancelled;

  if (cancelled)
    nat__emit(NAT_EV_ABORT, 0, w->link_id, 0, w->site, w->env_serial);
  /* The run is over before the callback: complete may queue it again, or
   * delete the work, so w is not touched after the call. */
  nat__async_t async = w->async;
  uint32_t site = w->site;
  memset(&w->async, 0, sizeof(w->async));
  atomic_store(&w->state, WORK_IDLE);
  complete_t c = {w, env, status};
  uint64_t link_id = w->link_id;
  if (cancelled)
    nat__work_hook_call(nat__env_current(), NAT__WORK_ABORT, link_id, 0,
                        site);
  nat__dispatch(env, site, atomic_load(&w->ready_id), link_id, !cancelled,
                &async, run_user, &c);
  nat__async_close(env, &async);
}

#define NAT__WORK_OPTIONS_V1 \
  (offsetof(nat_work_options_t, data) + sizeof(void*))

int nat__work_create(napi_env env, const nat_work_options_t* o,
                     nat_work_t** out) {
  if (env == NULL || o == NULL || out == NULL) return NAT_EINVAL;
  *out = NULL;
  if (o->struct_size < NAT__WORK_OPTIONS_V1 || o->name == NULL ||
      o->execute == NULL)
    return NAT_EINVAL;
  nat__env_t* e = nat__env_current();
  if (e == NULL || e->closing) return NAT_EWRONGTHREAD;
  size_t len;
  int32_t site = nat__intern_name(o->name, &len);
  if (site < 0) return site;

  nat_work_t* w = calloc(1, sizeof(*w));
  if (w == NULL) return NAT_ENOMEM;
  w->env = env;
  w->thread = uv_thread_self();
  w->site = (uint32_t)site;
  w->env_serial = e->serial;
  w->execute = o->execute;
  w->complete = o->complete;
  w->data = o->data;
  memcpy(w->name, o->name, len);
  w->name[len] = '\0';
  w->name_len = len;

  napi_handle_scope hs;
  napi_value name;
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    free(w);
    return NAT_ENAPI;
  }
  napi_status st = napi_create_string_utf8(env, w->name, len, &name);
  if (st == napi_ok)
    st = napi_create_async_work(env, NULL, name, work_execute, work_complete,
                                w, &w->work);
  napi_close_handle_scope(env, hs);
  if (st != napi_ok) {
    free(w);
    return NAT_ENAPI;
  }
  *out = w;
  return 0;
}

int nat__work_queue(nat_work_t* w) {
  if (w == NULL) return NAT_EINVAL;
  if (!on_thread(w)) return NAT_EWRONGTHREAD;
  if (atomic_load(&w->state) != WORK_IDLE) return NAT_EALREADY;
  nat__env_t* e = nat__env_current();
  if (e == NULL || e->closing) return NAT_ECLOSING;

  napi_env env = w->env;
  int err = nat__async_open_owned(env, w->name, w->name_len, &w->async);
  if (err != 0) return err;
  w->tp.set = 0;
  if (e->link_ctx_fn != NULL) nat__link_context(e, &w->tp);
  nat__mark_link(w->site, w->env_serial, nat__frame_current(e), &w->link_id);
  atomic_store(&w->ready_id, 0);
  atomic_store(&w->state, WORK_QUEUED);
  if (napi_queue_async_work(env, w->work) != napi_ok) {
    atomic_store(&w->state, WORK_IDLE);
    nat__emit(NAT_EV_ABORT, 0, w->link_id, 0, w->site, w->env_serial);
    nat__async_close(env, &w->async);
    return NAT_ENAPI;
  }
  return 0;
}

int nat__work_traceparent(const nat_work_t* w, char* buf) {
  if (w == NULL || buf == NULL) return NAT_EINVAL;
  return nat__traceparent_format(&w->tp, buf);
}

int nat__work_cancel(nat_work_t* w) {
  if (w == NULL) return NAT_EINVAL;
  if (!on_thread(w)) return NAT_EWRONGTHREAD;
  /* `state` moves QUEUED -> RUNNING on the pool thread; the CAS makes the
   * cancel and the start exclusive in what they report. When the pool
   * thread wins, libuv refuses the cancel too (uv_cancel answers EBUSY
   * for a request it has handed to a thread). */
  int st = WORK_QUEUED;
  if (!atomic_compare_exchange_strong(&w->state, &st, WORK_CANCELLED))
    return st == WORK_RUNNING ? NAT_EBUSY : NAT_EALREADY;
  if (napi_cancel_async_work(w->env, w->work) != napi_ok) {
    /* The pool thread took it between our CAS and libuv's check. */
    atomic_store(&w->state, WORK_RUNNING);
    return NAT_EBUSY;
  }
  return 0;
}

int nat__work_delete(nat_work_t* w) {
  if (w == NULL) return NAT_EINVAL;
  if (!on_thread(w)) return NAT_EWRONGTHREAD;
  if (atomic_load(&w->state) != WORK_IDLE) return NAT_EBUSY;
  napi_delete_async_work(w->env, w->work);
  nat__async_close(w->env, &w->async);
  free(w);
  return 0;
}
