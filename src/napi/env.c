/*
 * Per-env state and the frame stack of each JS thread.
 */
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"

/* Read by every link and ready made through the C ABI: initial-exec, no
 * __tls_get_addr call (NAT__TLS_FAST, nat_core.h). */
static _Thread_local nat__env_t* tls_env NAT__TLS_FAST = NULL;
static _Atomic uint32_t env_serials = 0;

nat__env_t* nat__env_current(void) { return tls_env; }

void nat__env_set_current(nat__env_t* e) { tls_env = e; }

int32_t nat__intern_name(const char* name, size_t* len) {
  if (name == NULL) return NAT_EINVAL;
  size_t n = strnlen(name, NAT_SITE_NAME_MAX + 1);
  if (len != NULL) *len = n;
  return nat__site_intern(name, n);
}

uint32_t nat__env_next_serial(void) {
  return atomic_fetch_add_explicit(&env_serials, 1, memory_order_relaxed) + 1;
}

/*
 * Hands a new linkID to the env's link hook (the JS stack capture of
 * enable({ stacks: true })). JS thread of e only: links from native threads
 * find no env here and have no JS stack to capture. Never lets a JS
 * exception escape into the caller (who may be another addon's C code),
 * and does nothing while one is already pending.
 */
static void link_hook_call(nat__env_t* e, uint64_t link_id) {
  napi_env env = e->env;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, arg, exc;
  e->in_link_hook = 1;
  if (napi_get_reference_value(env, e->link_hook, &fn) == napi_ok &&
      fn != NULL && napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_double(env, (double)link_id, &arg) == napi_ok &&
      napi_call_function(env, recv, fn, 1, &arg, NULL) != napi_ok)
    napi_get_and_clear_last_exception(env, &exc);
  e->in_link_hook = 0;
  napi_close_handle_scope(env, scope);
}

void nat__mark_link(uint32_t site, uint32_t env, uint64_t execute_id,
                    uint64_t* link_id) {
  if (!nat__is_enabled()) {
    *link_id = 0;
    return;
  }
  *link_id = nat__id_next();
  nat__emit_owed(NAT_EV_LINK, execute_id, *link_id, 0, site, env);
  nat__env_t* e = tls_env;
  if (e != NULL && e->link_hook != NULL && !e->in_link_hook && !e->closing)
    link_hook_call(e, *link_id);
}

void nat__mark_ready(uint32_t site, uint32_t env, uint64_t execute_id,
                     uint64_t link_id, uint64_t* ready_id) {
  if (!nat__is_enabled()) {
    *ready_id = 0;
    return;
  }
  *ready_id = nat__id_next();
  nat__emit_owed(NAT_EV_READY, execute_id, link_id, *ready_id, site, env);
}

int nat__frame_begin(nat__env_t* e, uint32_t site, uint64_t ready_id,
                     uint64_t* execute_id) {
  if (e->depth == e->frames_cap) {
    if (e->frames_cap >= NAT__MAX_FRAME_DEPTH) return NAT_EFRAME;
    uint32_t cap = e->frames_cap ? e->frames_cap * 2 : 32;
    nat__frame_t* f = realloc(e->frames, cap * sizeof(*f));
    if (f == NULL) return NAT_ENOMEM;
    e->frames = f;
    e->frames_cap = cap;
  }
  uint64_t id = 0;
  if (nat__is_enabled()) {
    id = nat__id_next();
    nat__emit_owed(NAT_EV_EXECUTION_BEGIN, id, 0, ready_id, site,
                 e->serial);
  }
  e->frames[e->depth].id = id;
  e->frames[e->depth].site = site;
  e->depth++;
  *execute_id = id;
  return 0;
}

/* A frame with an ID was begun while recording: its end is owed even when
 * recording stopped inside it (disable() in the callback). */
static void frame_pop(nat__env_t* e) {
  nat__frame_t* f = &e->frames[--e->depth];
  if (f->id != 0)
    nat__emit_owed(NAT_EV_EXECUTION_END, f->id, 0, 0, f->site, e->serial);
}

int nat__frame_end(nat__env_t* e, uint64_t execute_id) {
  if (e->depth == 0 || e->frames[e->depth - 1].id != execute_id)
    return NAT_EFRAME;
  frame_pop(e);
  return 0;
}

void nat__frame_unwind(nat__env_t* e, uint32_t depth) {
  /* `depth` is the stack depth just after the frame was begun: frames
   * above it were left open by the callback. */
  while (e->depth >= depth && e->depth > 0) frame_pop(e);
}

uint64_t nat__frame_current(const nat__env_t* e) {
  return e->depth ? e->frames[e->depth - 1].id : 0;
}

/* ---- carrying AsyncLocalStorage (AsyncContextFrame) --------------------- */

napi_ref nat__ctx_capture(nat__env_t* e) {
  if (e == NULL || e->snapshot_fn == NULL) return NULL;
  napi_env env = e->env;
  napi_handle_scope hs;
  napi_ref ref = NULL;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return NULL;
  napi_value fn, undefined, runner;
  if (napi_get_reference_value(env, e->snapshot_fn, &fn) == napi_ok &&
      napi_get_undefined(env, &undefined) == napi_ok &&
      napi_call_function(env, undefined, fn, 0, NULL, &runner) == napi_ok &&
      napi_create_reference(env, runner, 1, &ref) != napi_ok)
    ref = NULL;
  napi_close_handle_scope(env, hs);
  return ref;
}

void nat__ctx_run(nat__env_t* e, napi_ref snap, void (*fn)(void*), void* arg) {
  if (e == NULL || snap == NULL || e->trampoline_fn == NULL) {
    fn(arg);
    return;
  }
  napi_env env = e->env;
  napi_value runner, tramp, undefined;
  if (napi_get_reference_value(env, snap, &runner) != napi_ok ||
      napi_get_reference_value(env, e->trampoline_fn, &tramp) != napi_ok ||
      napi_get_undefined(env, &undefined) != napi_ok) {
    fn(arg);
    return;
  }
  /* Nested dispatches save and restore the slot. */
  void (*saved_fn)(void*) = e->run_fn;
  void* saved_arg = e->run_arg;
  e->run_fn = fn;
  e->run_arg = arg;
  napi_status st = napi_call_function(env, undefined, runner, 1, &tramp, NULL);
  int ran = e->run_fn == NULL;
  e->run_fn = saved_fn;
  e->run_arg = saved_arg;
  if (st != napi_ok) {
    /* Our own call failed (not the callback's code: its exceptions stay in
     * the caller's env). Clear it and run the callback anyway. */
    napi_value ignored;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
      napi_get_and_clear_last_exception(env, &ignored);
  }
  if (!ran) fn(arg);
}

void nat__ctx_release(nat__env_t* e, napi_ref snap) {
  if (e != NULL && snap != NULL) napi_delete_reference(e->env, snap);
}

/* ---- contexts and the dispatch protocol --------------------------------- */

int nat__async_open(napi_env env, napi_value has_ref, const char* name,
                    size_t len, nat__async_t* a) {
  a->ctx = NULL;
  a->resource = NULL;
  a->snap = NULL;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return NAT_ENAPI;
  napi_value resource, type;
  int ok = napi_create_object(env, &resource) == napi_ok &&
           (has_ref == NULL ||
            napi_set_named_property(env, resource, "hasRef", has_ref) ==
                napi_ok) &&
           napi_create_string_utf8(env, name, len, &type) == napi_ok &&
           napi_async_init(env, resource, type, &a->ctx) == napi_ok &&
           napi_create_reference(env, resource, 1, &a->resource) == napi_ok;
  napi_close_handle_scope(env, hs);
  if (!ok) {
    nat__async_close(env, a);
    return NAT_ENAPI;
  }
  a->snap = nat__ctx_capture(nat__env_current());
  return 0;
}

void nat__async_close(napi_env env, nat__async_t* a) {
  if (a->ctx != NULL) napi_async_destroy(env, a->ctx);
  if (a->resource != NULL) napi_delete_reference(env, a->resource);
  nat__ctx_release(nat__env_current(), a->snap);
  a->ctx = NULL;
  a->resource = NULL;
  a->snap = NULL;
}

void nat__dispatch(napi_env env, uint32_t site, uint64_t ready_id, int frame,
                   const nat__async_t* a, void (*fn)(void*), void* arg) {
  nat__env_t* e = nat__env_current();
  uint64_t exec = 0;
  uint32_t depth = 0;
  if (frame && e != NULL && nat__frame_begin(e, site, ready_id, &exec) == 0)
    depth = e->depth;

  napi_value resource = NULL;
  napi_callback_scope scope = NULL;
  if (a->resource != NULL && a->ctx != NULL &&
      napi_get_reference_value(env, a->resource, &resource) == napi_ok &&
      napi_open_callback_scope(env, resource, a->ctx, &scope) != napi_ok)
    scope = NULL;
  nat__ctx_run(e, a->snap, fn, arg);
  if (scope != NULL) napi_close_callback_scope(env, scope);
  if (depth != 0) nat__frame_unwind(e, depth);
}
