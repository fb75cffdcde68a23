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
 * Hands a new link to the env's link hook, as (linkID, executeID, site):
 * the JS stack capture of enable({ stacks: true }), the OpenTelemetry
 * bridge's context capture and the TracingChannel's `start`, composed in
 * lib/. JS thread of e only: links from native threads find no env here
 * and have no JS context to capture. Never lets a JS exception escape into
 * the caller (who may be another addon's C code), and does nothing while
 * one is already pending.
 */
static void link_hook_call(nat__env_t* e, uint64_t link_id,
                           uint64_t execute_id, uint32_t site) {
  napi_env env = e->env;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[3], exc;
  e->in_link_hook = 1;
  if (napi_get_reference_value(env, e->link_hook, &fn) == napi_ok &&
      fn != NULL && napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_double(env, (double)link_id, &argv[0]) == napi_ok &&
      napi_create_double(env, (double)execute_id, &argv[1]) == napi_ok &&
      napi_create_uint32(env, site, &argv[2]) == napi_ok &&
      napi_call_function(env, recv, fn, 3, argv, NULL) != napi_ok)
    napi_get_and_clear_last_exception(env, &exc);
  e->in_link_hook = 0;
  napi_close_handle_scope(env, scope);
}

/* ---- bridges: link context (traceparent) and the work hook -------------- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Parses `n` bytes of lowercase hex into out; -1 on anything else. */
static int parse_hex(const char* s, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

static int all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0) return 0;
  return 1;
}

/* Reads "00-<32 hex>-<16 hex>-<2 hex>" (W3C Trace Context, version 00):
 * the trace and span IDs must not be all zero. */
static int parse_traceparent(const char* s, size_t len,
                             nat__traceparent_t* tp) {
  uint8_t version;
  if (len != NAT_TRACEPARENT_SIZE - 1 || s[2] != '-' || s[35] != '-' ||
      s[52] != '-' || parse_hex(s, &version, 1) != 0 || version != 0 ||
      parse_hex(s + 3, tp->trace_id, 16) != 0 ||
      parse_hex(s + 36, tp->span_id, 8) != 0 ||
      parse_hex(s + 53, &tp->flags, 1) != 0 || all_zero(tp->trace_id, 16) ||
      all_zero(tp->span_id, 8))
    return -1;
  return 0;
}

void nat__link_context(nat__env_t* e, nat__traceparent_t* tp) {
  tp->set = 0;
  if (e == NULL || e->link_ctx_fn == NULL || e->closing || e->in_link_hook)
    return;
  napi_env env = e->env;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result, exc;
  napi_valuetype type = napi_undefined;
  char buf[NAT_TRACEPARENT_SIZE + 1];
  size_t len = 0;
  /* The provider may link work itself: in_link_hook keeps that from
   * asking it again (and from the link hook). */
  e->in_link_hook = 1;
  napi_status st = napi_get_reference_value(env, e->link_ctx_fn, &fn);
  if (st == napi_ok) st = napi_get_undefined(env, &recv);
  if (st == napi_ok) st = napi_call_function(env, recv, fn, 0, NULL, &result);
  e->in_link_hook = 0;
  if (st != napi_ok) {
    napi_get_and_clear_last_exception(env, &exc);
    e->link_ctx_errors++;
  } else if (napi_typeof(env, result, &type) == napi_ok &&
             type == napi_string) {
    if (napi_get_value_string_utf8(env, result, buf, sizeof(buf), &len) ==
            napi_ok &&
        parse_traceparent(buf, len, tp) == 0)
      tp->set = 1;
    else
      e->link_ctx_errors++;
  } else if (type != napi_undefined && type != napi_null) {
    e->link_ctx_errors++; /* undefined/null: no context, not an error */
  }
  napi_close_handle_scope(env, scope);
}

int nat__traceparent_format(const nat__traceparent_t* tp, char* buf) {
  static const char hex[] = "0123456789abcdef";
  if (tp == NULL || !tp->set) return NAT_ENOENT;
  char* p = buf;
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  for (int i = 0; i < 16; i++) {
    *p++ = hex[tp->trace_id[i] >> 4];
    *p++ = hex[tp->trace_id[i] & 15];
  }
  *p++ = '-';
  for (int i = 0; i < 8; i++) {
    *p++ = hex[tp->span_id[i] >> 4];
    *p++ = hex[tp->span_id[i] & 15];
  }
  *p++ = '-';
  *p++ = hex[tp->flags >> 4];
  *p++ = hex[tp->flags & 15];
  *p = '\0';
  return 0;
}

void nat__work_hook_call(nat__env_t* e, int phase, uint64_t link_id,
                         uint64_t execute_id, uint32_t site) {
  if (e == NULL || e->work_hook == NULL || e->closing) return;
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  /* An exception the callback left pending belongs to the callback: it is
   * set aside for the hook's call and thrown again after it. */
  bool pending = false;
  napi_value saved = NULL, exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &saved) != napi_ok)
    saved = NULL;
  napi_value fn, recv, argv[4];
  if (napi_get_reference_value(env, e->work_hook, &fn) == napi_ok &&
      fn != NULL && napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_uint32(env, (uint32_t)phase, &argv[0]) == napi_ok &&
      napi_create_double(env, (double)link_id, &argv[1]) == napi_ok &&
      napi_create_double(env, (double)execute_id, &argv[2]) == napi_ok &&
      napi_create_uint32(env, site, &argv[3]) == napi_ok &&
      napi_call_function(env, recv, fn, 4, argv, NULL) != napi_ok)
    napi_get_and_clear_last_exception(env, &exc);
  if (saved != NULL) napi_throw(env, saved);
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
    link_hook_call(e, *link_id, execute_id, site);
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

/* ---- contexts and the dispatch protocol --------------------------------- */

/*
 * Why napi_make_callback and a trampoline. A context made by
 * napi_async_init and entered with napi_make_callback carries the
 * requester's AsyncLocalStorage store on every Node this package supports
 * (20, 22: the store is copied onto the resource by ALS's init hook; 24+,
 * AsyncContextFrame: the frame is captured by napi_async_init and restored
 * by MakeCallback). napi_open_callback_scope and a threadsafe function's
 * call_js do not carry it on 24+. napi_make_callback needs a JS function,
 * so each env has one native function (the trampoline, made once at module
 * init) that runs the C callback stored in e->run_fn. Nothing is allocated
 * per dispatch and no AsyncLocalStorage.snapshot is taken. Where lib/'s
 * probe at load found that napi_open_callback_scope carries the store too
 * (Node 20 and 22: the store lives on the resource), dispatch uses that
 * scope instead and saves the JS call into the trampoline (about 1,200
 * instructions per item on Node 20, callgrind).
 */
void nat__trampoline_run(nat__env_t* e) {
  void (*fn)(void*) = e->run_fn;
  e->run_fn = NULL; /* tells nat__dispatch that it ran */
  if (fn != NULL) fn(e->run_arg);
}

int nat__resource_maker(nat__env_t* e, napi_value* maker) {
  napi_env env = e->env;
  if (e->resource_maker != NULL)
    return napi_get_reference_value(env, e->resource_maker, maker) == napi_ok
               ? 0
               : NAT_ENAPI;
  static const char src[] =
      "(function (hasRef) {\n"
      "  return class NapiAsyncTraceResource {\n"
      "    hasRef () { return hasRef() }\n"
      "  }\n"
      "})";
  napi_value code;
  if (napi_create_string_utf8(env, src, sizeof(src) - 1, &code) != napi_ok ||
      napi_run_script(env, code, maker) != napi_ok ||
      napi_create_reference(env, *maker, 1, &e->resource_maker) != napi_ok)
    return NAT_ENAPI;
  return 0;
}

int nat__async_open(napi_env env, napi_value has_ref, const char* name,
                    size_t len, nat__async_t* a) {
  a->ctx = NULL;
  a->resource = NULL;
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
  return 0;
}

int nat__async_open_owned(napi_env env, const char* name, size_t len,
                          nat__async_t* a) {
  a->ctx = NULL;
  a->resource = NULL;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return NAT_ENAPI;
  /* Latin-1 when the name is ASCII: the same string, made without UTF-8
   * decoding. */
  int ascii = 1;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] >= 0x80) ascii = 0;
  napi_value type;
  int ok = (ascii ? napi_create_string_latin1(env, name, len, &type)
                  : napi_create_string_utf8(env, name, len, &type)) ==
               napi_ok &&
           napi_async_init(env, NULL, type, &a->ctx) == napi_ok;
  napi_close_handle_scope(env, hs);
  if (!ok) {
    a->ctx = NULL;
    return NAT_ENAPI;
  }
  return 0;
}

void nat__async_close(napi_env env, nat__async_t* a) {
  if (a->ctx != NULL) napi_async_destroy(env, a->ctx);
  if (a->resource != NULL) napi_delete_reference(env, a->resource);
  a->ctx = NULL;
  a->resource = NULL;
}

/* A dispatched callback, as the trampoline (or the scope) runs it: the
 * execution frame around it and, when a bridge listens, the work hook's
 * BEGIN and END, all inside the callback scope, so the frame ends before
 * the scope closes and runs the microtasks the callback queued (they are
 * continuations of their own), and subscribers see the requester's
 * context. */
typedef struct {
  nat__env_t* e;
  uint32_t site;
  uint64_t ready_id;
  uint64_t link_id;
  int frame;
  void (*fn)(void*);
  void* arg;
} framed_t;

static void run_framed(void* p) {
  framed_t* r = p;
  nat__env_t* e = r->e;
  uint64_t exec = 0;
  uint32_t depth = 0;
  if (r->frame && e != NULL &&
      nat__frame_begin(e, r->site, r->ready_id, &exec) == 0)
    depth = e->depth;
  /* One load when no bridge listens (the common case). */
  int hooked = e != NULL && e->work_hook != NULL && r->link_id != 0;
  if (hooked)
    nat__work_hook_call(e, NAT__WORK_BEGIN, r->link_id, exec, r->site);
  r->fn(r->arg);
  if (hooked)
    nat__work_hook_call(e, NAT__WORK_END, r->link_id, exec, r->site);
  if (depth != 0) nat__frame_unwind(e, depth);
}

void nat__dispatch(napi_env env, uint32_t site, uint64_t ready_id,
                   uint64_t link_id, int frame, const nat__async_t* a,
                   void (*fn)(void*), void* arg) {
  nat__dispatch_res(env, site, ready_id, link_id, frame, a, NULL, fn, arg);
}

void nat__dispatch_res(napi_env env, uint32_t site, uint64_t ready_id,
                       uint64_t link_id, int frame, const nat__async_t* a,
                       napi_value resource, void (*fn)(void*), void* arg) {
  nat__env_t* e = nat__env_current();
  framed_t r = {e, site, ready_id, link_id, frame, fn, arg};
  int ran = 0;
  napi_value tramp;
  /* A context without a resource reference (a->resource NULL: made by
   * napi_async_init with no resource, so the context holds the object Node
   * made for it) is entered all the same: napi_open_callback_scope ignores
   * its resource argument and napi_make_callback takes the resource from
   * the context, the receiver (here the trampoline itself) being only the
   * callee's `this`. Otherwise the resource's value is the caller's when
   * it has it at hand already (a queue's shared context, fetched once per
   * wake-up), else fetched here. */
  int owned = a->ctx != NULL && a->resource == NULL;
  if (resource == NULL && !owned && e != NULL && a->resource != NULL &&
      napi_get_reference_value(e->env, a->resource, &resource) != napi_ok)
    resource = NULL;
  if (e != NULL && e->scope_carrier && a->ctx != NULL &&
      (owned || resource != NULL)) {
    /* Where the probe showed that a callback scope carries the store. */
    napi_callback_scope scope;
    if (napi_open_callback_scope(env, resource, a->ctx, &scope) == napi_ok) {
      run_framed(&r);
      napi_close_callback_scope(env, scope);
      return;
    }
  }
  if (e != NULL && a->ctx != NULL && e->trampoline_fn != NULL &&
      napi_get_reference_value(e->env, e->trampoline_fn, &tramp) == napi_ok &&
      (owned ? (resource = tramp) != NULL : resource != NULL)) {
    /* Nested dispatches (a callback that dispatches) save and restore the
     * slot. A JS exception the callback leaves pending in env stays there
     * for the caller to report (as Node does after a tsfn's call_js). */
    void (*saved_fn)(void*) = e->run_fn;
    void* saved_arg = e->run_arg;
    e->run_fn = run_framed;
    e->run_arg = &r;
    napi_make_callback(env, a->ctx, resource, tramp, 0, NULL, NULL);
    ran = e->run_fn == NULL;
    e->run_fn = saved_fn;
    e->run_arg = saved_arg;
  }
  /* No context, or Node refused to call into JS (an env being torn down):
   * the callback still runs, as call_js does, so it can free its data. */
  if (!ran) run_framed(&r);
}

/* ---- closing contexts on their JS thread, from any thread -------------- */

/*
 * JS-side state (an async context, a reference) may only be released on
 * its env's JS thread. A task that ends on another thread (cancelled
 * there, or its ready failed because the queue closed) hands its context
 * to the env's anchor, which sends it to the JS thread through an unref'd
 * threadsafe function with no size limit: napi_call_threadsafe_function
 * never blocks then, and the loop is not kept alive by it. The anchor
 * outlives the env (queues and works hold references to it): after the
 * env is gone `tsfn` is NULL and the contexts died with their env.
 * `mu` orders a sender against the finalizer, which clears `tsfn` under
 * it: a sender that saw it non-NULL finishes its (non-blocking) call
 * before the threadsafe function can be finalized.
 */
struct nat__anchor_s {
  _Atomic uint32_t refs;
  uv_mutex_t mu;
  napi_threadsafe_function tsfn; /* NULL once the env is torn down */
  uv_thread_t thread;
};

typedef struct {
  nat__async_t a;
} reap_t;

static void reap_call_js(napi_env env, napi_value js_cb, void* context,
                         void* data) {
  (void)js_cb;
  (void)context;
  reap_t* r = data;
  if (env != NULL) nat__async_close(env, &r->a);
  free(r);
}

static void reap_finalize(napi_env env, void* finalize_data, void* hint) {
  (void)env;
  (void)hint;
  nat__anchor_t* an = finalize_data;
  uv_mutex_lock(&an->mu);
  an->tsfn = NULL;
  uv_mutex_unlock(&an->mu);
  nat__anchor_unref(an);
}

nat__anchor_t* nat__anchor_create(napi_env env) {
  nat__anchor_t* an = calloc(1, sizeof(*an));
  if (an == NULL) return NULL;
  if (uv_mutex_init(&an->mu) != 0) {
    free(an);
    return NULL;
  }
  an->thread = uv_thread_self();
  /* One reference for the env, one for the threadsafe function. */
  atomic_store_explicit(&an->refs, 2, memory_order_relaxed);
  napi_value name;
  if (napi_create_string_utf8(env, "napi-async-trace:reaper", NAPI_AUTO_LENGTH,
                              &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, an,
                                      reap_finalize, NULL, reap_call_js,
                                      &an->tsfn) != napi_ok ||
      napi_unref_threadsafe_function(env, an->tsfn) != napi_ok) {
    uv_mutex_destroy(&an->mu);
    free(an);
    return NULL;
  }
  return an;
}

void nat__anchor_ref(nat__anchor_t* an) {
  atomic_fetch_add_explicit(&an->refs, 1, memory_order_relaxed);
}

void nat__anchor_unref(nat__anchor_t* an) {
  /* acq_rel: the last owner sees every other owner's writes. */
  if (atomic_fetch_sub_explicit(&an->refs, 1, memory_order_acq_rel) == 1) {
    uv_mutex_destroy(&an->mu);
    free(an);
  }
}

void nat__async_close_from(nat__anchor_t* an, napi_env env, nat__async_t* a) {
  if (!nat__async_held(a)) return;
  if (nat__on_thread(&an->thread)) {
    nat__async_close(env, a);
    return;
  }
  reap_t* r = malloc(sizeof(*r));
  uv_mutex_lock(&an->mu);
  if (r != NULL && an->tsfn != NULL) {
    r->a = *a;
    if (napi_call_threadsafe_function(an->tsfn, r, napi_tsfn_nonblocking) ==
        napi_ok)
      r = NULL;
  }
  uv_mutex_unlock(&an->mu);
  /* Not sent: the env is gone (its contexts with it) or memory ran out
   * (the context leaks: counted nowhere, but never touched off-thread). */
  free(r);
  a->ctx = NULL;
  a->resource = NULL;
}
