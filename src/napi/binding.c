/*
 * Module init and the functions lib/ calls. lib/ checks arguments first and
 * throws TypeError/RangeError; these functions check again, because the
 * binding can be reached directly. Both throw with the engine's codes
 * (NAT_EINVAL, ...; include/napi_async_trace_defs.h). All run on the env's JS thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nat_napi.h"
#include "nat_wrap.h"

/* ---- errors ------------------------------------------------------------- */

void nat__throw(napi_env env, int err, const char* msg) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  nat_throw(env, err, msg);
}

#define NAT__MAX_THREADS_LIMIT 65536.0
#define NAT__MAX_SAFE_ID 9007199254740991.0 /* 2^53 - 1 */

/* Reads an ID (a non-negative safe integer Number). Throws and returns -1 on
 * anything else. */
static int arg_id(napi_env env, napi_value v, const char* what,
                  uint64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) ||
      d > NAT__MAX_SAFE_ID || d != floor(d)) {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s must be a non-negative integer ID", what);
    nat__throw(env, NAT_EINVAL, msg);
    return -1;
  }
  *out = (uint64_t)d;
  return 0;
}

/* Reads an integer Number in [min, max] (no truncation, no wrap). Returns
 * 0, or -1 without throwing. */
static int arg_uint(napi_env env, napi_value v, double min, double max,
                    uint32_t* out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok || !(d >= min) ||
      !(d <= max) || d != floor(d))
    return -1;
  *out = (uint32_t)d;
  return 0;
}

/* Reads a site index that exists. */
static int arg_site(napi_env env, napi_value v, uint32_t* out) {
  if (arg_uint(env, v, 0, (double)nat__site_count() - 1, out) != 0) {
    nat__throw(env, NAT_EINVAL, "site must be the index of an interned site");
    return -1;
  }
  return 0;
}

static napi_value make_id(napi_env env, uint64_t id) {
  napi_value v = NULL;
  napi_create_double(env, (double)id, &v);
  return v;
}

static nat__env_t* env_state(napi_env env) {
  nat__env_t* e = NULL;
  if (napi_get_instance_data(env, (void**)&e) != napi_ok || e == NULL ||
      e->closing) {
    nat__throw(env, NAT_ECLOSING, NULL);
    return NULL;
  }
  return e;
}

/* Fetches exactly n arguments; missing ones read as undefined. */
int nat__get_args(napi_env env, napi_callback_info info, size_t n,
                  napi_value* argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    nat__throw(env, NAT_ENAPI, NULL);
    return -1;
  }
  for (size_t i = argc; i < n; i++) napi_get_undefined(env, &argv[i]);
  return 0;
}

/* ---- enable / disable --------------------------------------------------- */

/* enable(capacity, maxThreads) -> true when the root frame 0 was opened and
 * lib must close it (rootEnd) when the current turn ends. */
static napi_value js_enable(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  uint32_t cap = 0, max_threads = 0;
  napi_valuetype t0, t1;
  napi_typeof(env, argv[0], &t0);
  napi_typeof(env, argv[1], &t1);
  if (t0 != napi_undefined &&
      arg_uint(env, argv[0], NAT_MIN_CAPACITY, NAT_MAX_CAPACITY, &cap) != 0) {
    nat__throw(env, NAT_EINVAL, "capacity must be an integer in range");
    return NULL;
  }
  if (t1 != napi_undefined &&
      arg_uint(env, argv[1], 1, NAT__MAX_THREADS_LIMIT, &max_threads) != 0) {
    nat__throw(env, NAT_EINVAL, "maxThreads must be an integer in [1, 65536]");
    return NULL;
  }
  if (t1 != napi_undefined) nat__set_max_rings(max_threads);
  nat__enable(cap);
  bool opened = false;
  if (e->depth == 0 && !e->root_open) {
    nat__emit(NAT_EV_EXECUTION_BEGIN, 0, 0, 0, 0, e->serial);
    e->root_open = 1;
    opened = true;
  }
  napi_value r;
  napi_get_boolean(env, opened, &r);
  return r;
}

/* Closes the root frame 0 opened by enable, if it is still open. */
static void root_close(nat__env_t* e) {
  if (e->root_open) {
    e->root_open = 0;
    /* Owed: its begin was recorded (recording may have stopped since). */
    nat__emit_owed(NAT_EV_EXECUTION_END, 0, 0, 0, 0, e->serial);
  }
}

static napi_value js_root_end(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e != NULL) root_close(e);
  return NULL;
}

static napi_value js_disable(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  root_close(e);
  nat__disable();
  return NULL;
}

static napi_value js_enabled(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_get_boolean(env, nat__is_enabled(), &r);
  return r;
}

/* ---- drain and stats ---------------------------------------------------- */

/* drain(max) -> ArrayBuffer of records, or null when there is nothing.
 * The raw, destructive drain of the rings: what it takes no consumer
 * (hub.c) sees. lib/ uses consumers; this stays for the core's tests. */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  if (env_state(env) == NULL) return NULL;
  uint32_t max = 0;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_undefined && arg_uint(env, argv[0], 0, 4294967295.0, &max) != 0) {
    nat__throw(env, NAT_EINVAL, "max must be a non-negative integer");
    return NULL;
  }
  nat__records_ctx_t c = {env, NULL};
  int64_t n = nat__drain(nat__records_alloc, &c, max);
  if (n < 0) {
    nat__throw(env, (int)n, "drain could not allocate its buffer");
    return NULL;
  }
  if (n == 0) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  return c.buffer;
}

static void set_num(napi_env env, napi_value obj, const char* key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  nat__stats_t s;
  nat__stats(&s);
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  napi_value b;
  napi_get_boolean(env, nat__is_enabled(), &b);
  napi_set_named_property(env, o, "enabled", b);
  set_num(env, o, "recorded", (double)s.recorded);
  set_num(env, o, "dropped", (double)s.dropped);
  set_num(env, o, "drained", (double)s.drained);
  set_num(env, o, "pending", (double)s.pending);
  set_num(env, o, "capacity", s.capacity);
  set_num(env, o, "rings", s.rings);
  set_num(env, o, "threads", s.threads);
  set_num(env, o, "threadsSeen", s.threads_seen);
  set_num(env, o, "ringBytes", (double)s.ring_bytes);
  set_num(env, o, "recordSize", sizeof(nat_record_t));
  set_num(env, o, "lastId", (double)nat__id_last());
  set_num(env, o, "sites", nat__site_count());
  napi_value clock;
  if (napi_create_string_utf8(env, nat__clock_source(), NAPI_AUTO_LENGTH,
                              &clock) == napi_ok)
    napi_set_named_property(env, o, "clock", clock);
  return o;
}

/* ---- sites -------------------------------------------------------------- */

/* site(name) -> index */
static napi_value js_site(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  char buf[NAT_SITE_NAME_MAX + 1];
  size_t len = 0;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  /* The UTF-8 length first: a copy into a short buffer stops at a whole
   * character, so a name one byte too long that ends in a multi-byte
   * character would come back shortened and be accepted. */
  if (t != napi_string ||
      napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    nat__throw(env, NAT_EINVAL, "name must be a string");
    return NULL;
  }
  if (len > NAT_SITE_NAME_MAX) {
    nat__throw(env, NAT_ENAMETOOLONG, NULL);
    return NULL;
  }
  if (napi_get_value_string_utf8(env, argv[0], buf, sizeof(buf), &len) !=
      napi_ok) {
    nat__throw(env, NAT_ENAPI, NULL);
    return NULL;
  }
  int32_t index = nat__site_intern(buf, len);
  if (index < 0) {
    nat__throw(env, index, NULL);
    return NULL;
  }
  napi_value r;
  napi_create_uint32(env, (uint32_t)index, &r);
  return r;
}

/* sites(from) -> names of sites from..count-1 */
static napi_value js_sites(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  uint32_t from = 0;
  if (arg_uint(env, argv[0], 0, 4294967295.0, &from) != 0) {
    nat__throw(env, NAT_EINVAL, "from must be a non-negative integer");
    return NULL;
  }
  uint32_t count = nat__site_count();
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  char buf[NAT_SITE_NAME_MAX + 1];
  for (uint32_t i = from; i < count; i++) {
    int len = nat__site_name(i, buf, sizeof(buf));
    if (len < 0) break;
    napi_value s;
    napi_create_string_utf8(env, buf, (size_t)len, &s);
    napi_set_element(env, arr, i - from, s);
  }
  return arr;
}

/* ---- manual marks from JS (used by the JS resource bridge and tests) ---- */

static napi_value js_link(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  uint32_t site;
  if (e == NULL || arg_site(env, argv[0], &site) != 0) return NULL;
  uint64_t id;
  nat__mark_link(site, e->serial, nat__frame_current(e), &id);
  return make_id(env, id);
}

/* The (site, id) arguments of ready, begin and abort, checked; the calling
 * env's state, or NULL with a JS error thrown. */
static nat__env_t* site_id_args(napi_env env, napi_callback_info info,
                                const char* id_name, uint32_t* site,
                                uint64_t* id) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL || arg_site(env, argv[0], site) != 0 ||
      arg_id(env, argv[1], id_name, id) != 0)
    return NULL;
  return e;
}

static napi_value js_ready(napi_env env, napi_callback_info info) {
  uint32_t site;
  uint64_t link_id, id;
  nat__env_t* e = site_id_args(env, info, "linkID", &site, &link_id);
  if (e == NULL) return NULL;
  nat__mark_ready(site, e->serial, nat__frame_current(e), link_id, &id);
  return make_id(env, id);
}

static napi_value js_begin(napi_env env, napi_callback_info info) {
  uint32_t site;
  uint64_t ready_id, id;
  nat__env_t* e = site_id_args(env, info, "readyID", &site, &ready_id);
  if (e == NULL) return NULL;
  int err = nat__frame_begin(e, site, ready_id, &id);
  if (err != 0) {
    nat__throw(env, err, NULL);
    return NULL;
  }
  return make_id(env, id);
}

static napi_value js_end(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  uint64_t id;
  if (e == NULL || arg_id(env, argv[0], "executeID", &id) != 0) return NULL;
  int err = nat__frame_end(e, id);
  if (err != 0) nat__throw(env, err, "executeID is not the innermost open frame");
  return NULL;
}

/* abort(site, linkID): the link will never become ready (a cleared timer,
 * a closed handle); recorded as an abort event. */
static napi_value js_abort(napi_env env, napi_callback_info info) {
  uint32_t site;
  uint64_t link_id;
  nat__env_t* e = site_id_args(env, info, "linkID", &site, &link_id);
  if (e == NULL) return NULL;
  if (link_id != 0 && nat__is_enabled())
    nat__emit(NAT_EV_ABORT, nat__frame_current(e), link_id, 0, site,
              e->serial);
  return NULL;
}

/* Stores argv0 (a function, or null to clear) in *ref, a reference of this
 * env. `what` names the argument in the error. JS thread. */
static napi_value set_fn_ref(napi_env env, napi_value arg, napi_ref* ref,
                             const char* what) {
  napi_valuetype t;
  napi_typeof(env, arg, &t);
  if (t != napi_function && t != napi_null) {
    nat__throw(env, NAT_EINVAL, what);
    return NULL;
  }
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
  if (t == napi_function &&
      napi_create_reference(env, arg, 1, ref) != napi_ok)
    nat__throw(env, NAT_ENAPI, NULL);
  return NULL;
}

/* setLinkHook(fn | null): fn(linkID) is called for every link made on this
 * JS thread (enable({ stacks: true })). */
static napi_value js_set_link_hook(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  return set_fn_ref(env, argv[0], &e->link_hook,
                    "hook must be a function or null");
}

/* setLinkContext(fn | null): fn() -> a W3C traceparent string (or
 * undefined) asked at each JS-thread link of a task or work run and kept
 * for native threads (task_traceparent, work_traceparent). */
static napi_value js_set_link_context(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  return set_fn_ref(env, argv[0], &e->link_ctx_fn,
                    "provider must be a function or null");
}

/* linkContextErrors() -> provider calls that threw or returned something
 * that is not a traceparent, in this env. */
static napi_value js_link_context_errors(napi_env env,
                                         napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  return make_id(env, e->link_ctx_errors);
}

/* setWorkHook(fn | null): fn(phase, linkID, executeID, site) around each
 * dispatched callback (1 before, 2 after, 3 aborted). */
static napi_value js_set_work_hook(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  return set_fn_ref(env, argv[0], &e->work_hook,
                    "hook must be a function or null");
}

static napi_value js_current_frame(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  return make_id(env, nat__frame_current(e));
}

/* openFrames() -> the executeIDs of this env's open frames, outermost
 * first (frames begun while recording was off show as 0). */
static napi_value js_open_frames(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  napi_value arr;
  if (napi_create_array_with_length(env, e->depth, &arr) != napi_ok)
    return NULL;
  for (uint32_t i = 0; i < e->depth; i++)
    napi_set_element(env, arr, i, make_id(env, e->frames[i].id));
  return arr;
}

static napi_value js_env_serial(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  napi_value r;
  napi_create_uint32(env, e->serial, &r);
  return r;
}

/* ---- the dispatch trampoline -------------------------------------------- */

/* The native function nat__dispatch enters through napi_make_callback, so
 * that the C callback runs inside the requester's async context. */
static napi_value js_trampoline(napi_env env, napi_callback_info info) {
  (void)info;
  nat__env_t* e = NULL;
  if (napi_get_instance_data(env, (void**)&e) != napi_ok || e == NULL)
    return NULL;
  nat__trampoline_run(e);
  return NULL;
}

/* ---- choosing how dispatch enters a context ----------------------------- */

/* probeCapture() -> handle: a context made here (lib/ calls it inside
 * AsyncLocalStorage.run at load); probeRun(handle, fn) -> fn() run inside
 * napi_open_callback_scope of that context (and the context destroyed):
 * lib/ asks whether fn sees the store of the run, i.e. whether the
 * cheaper scope carries AsyncLocalStorage on this Node. */
static void probe_free(napi_env env, void* data, void* hint) {
  (void)hint;
  nat__async_close(env, data);
  free(data);
}

static napi_value js_probe_capture(napi_env env, napi_callback_info info) {
  (void)info;
  static const char name[] = "napi-async-trace:probe";
  nat__async_t* p = calloc(1, sizeof(*p));
  napi_value ext;
  if (p == NULL ||
      nat__async_open(env, NULL, name, sizeof(name) - 1, p) != 0 ||
      napi_create_external(env, p, probe_free, NULL, &ext) != napi_ok) {
    if (p != NULL) probe_free(env, p, NULL);
    nat__throw(env, NAT_ENAPI, NULL);
    return NULL;
  }
  return ext;
}

static napi_value js_probe_run(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (nat__get_args(env, info, 2, argv) != 0) return NULL;
  nat__async_t* p = NULL;
  napi_valuetype t0, t1;
  napi_typeof(env, argv[0], &t0);
  napi_typeof(env, argv[1], &t1);
  if (t0 != napi_external || t1 != napi_function ||
      napi_get_value_external(env, argv[0], (void**)&p) != napi_ok ||
      p == NULL || p->ctx == NULL) {
    nat__throw(env, NAT_EINVAL, "probeRun(handle, fn)");
    return NULL;
  }
  napi_value resource, undefined, result = NULL;
  napi_callback_scope scope;
  napi_get_reference_value(env, p->resource, &resource);
  napi_get_undefined(env, &undefined);
  if (napi_open_callback_scope(env, resource, p->ctx, &scope) != napi_ok) {
    nat__throw(env, NAT_ENAPI, NULL);
    return NULL;
  }
  napi_call_function(env, undefined, argv[1], 0, NULL, &result);
  napi_close_callback_scope(env, scope);
  nat__async_close(env, p);
  return result;
}

/* setScopeCarrier(bool): dispatch enters contexts with
 * napi_open_callback_scope (one JS call less per item) instead of
 * napi_make_callback of the trampoline. Only where the probe showed that
 * the scope carries AsyncLocalStorage (Node 20, 22). */
static napi_value js_set_scope_carrier(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (nat__get_args(env, info, 1, argv) != 0) return NULL;
  nat__env_t* e = env_state(env);
  if (e == NULL) return NULL;
  bool b = false;
  if (napi_get_value_bool(env, argv[0], &b) != napi_ok) {
    nat__throw(env, NAT_EINVAL, "setScopeCarrier(boolean)");
    return NULL;
  }
  e->scope_carrier = b;
  return NULL;
}

/* ---- module init -------------------------------------------------------- */

/* The env cleanup hook, on the env's JS thread when the env starts to be
 * torn down (Node runs hooks newest first, so ours runs before the
 * napi_env's own, which finalizes the instance data below): from here on
 * the C ABI entries that need a live env refuse (e->closing). */
static void env_cleanup(void* arg) {
  nat__env_t* e = arg;
  e->closing = 1;
}

/* The instance data's finalizer: on the env's JS thread, last. */
static void env_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  nat__env_t* e = data;
  e->closing = 1;
  /* A no-op when the hook has run (the usual order); else it must not run
   * on freed memory. */
  napi_remove_env_cleanup_hook(env, env_cleanup, e);
  if (nat__env_current() == e) nat__env_set_current(NULL);
  if (e->trampoline_fn != NULL) napi_delete_reference(env, e->trampoline_fn);
  if (e->anchor != NULL) nat__anchor_unref(e->anchor);
  if (e->resource_maker != NULL)
    napi_delete_reference(env, e->resource_maker);
  if (e->link_hook != NULL) napi_delete_reference(env, e->link_hook);
  if (e->link_ctx_fn != NULL) napi_delete_reference(env, e->link_ctx_fn);
  if (e->work_hook != NULL) napi_delete_reference(env, e->work_hook);
  free(e->frames);
  free(e);
}

#define NAT__EXPORTS(V)                 \
  V("enable", js_enable)                \
  V("disable", js_disable)              \
  V("enabled", js_enabled)              \
  V("rootEnd", js_root_end)             \
  V("drain", js_drain)                  \
  V("subscribe", nat__js_subscribe)     \
  V("consume", nat__js_consume)         \
  V("countLost", nat__js_count_lost)    \
  V("unsubscribe", nat__js_unsubscribe) \
  V("consumerStats", nat__js_consumer_stats) \
  V("consumers", nat__js_consumers)     \
  V("stats", js_stats)                  \
  V("site", js_site)                    \
  V("sites", js_sites)                  \
  V("link", js_link)                    \
  V("ready", js_ready)                  \
  V("begin", js_begin)                  \
  V("end", js_end)                      \
  V("abort", js_abort)                  \
  V("setLinkHook", js_set_link_hook)    \
  V("setLinkContext", js_set_link_context) \
  V("linkContextErrors", js_link_context_errors) \
  V("setWorkHook", js_set_work_hook)    \
  V("currentFrame", js_current_frame)   \
  V("openFrames", js_open_frames)       \
  V("envSerial", js_env_serial)         \
  V("probeCapture", js_probe_capture)   \
  V("probeRun", js_probe_run)           \
  V("setScopeCarrier", js_set_scope_carrier) \
  V("addonsRebind", nat__js_addons_rebind)      \
  V("addonsRestore", nat__js_addons_restore)    \
  V("addonsInfo", nat__js_addons_info)          \
  V("addonsConfigure", nat__js_addons_configure)

static int publish_api(napi_env env, napi_value exports) {
  napi_value ext, global, symbol_ctor, symbol_for, key;
  /* The table is static const: no finalizer, the External only points. */
  if (napi_create_external(env, (void*)&nat__api, NULL, NULL, &ext) != napi_ok)
    return -1;
  if (napi_set_named_property(env, exports, "nativeApi", ext) != napi_ok)
    return -1;
  if (napi_get_global(env, &global) != napi_ok ||
      napi_get_named_property(env, global, "Symbol", &symbol_ctor) != napi_ok ||
      napi_get_named_property(env, symbol_ctor, "for", &symbol_for) !=
          napi_ok ||
      napi_create_string_utf8(env, NAT_API_SYMBOL, NAPI_AUTO_LENGTH, &key) !=
          napi_ok ||
      napi_call_function(env, symbol_ctor, symbol_for, 1, &key, &key) !=
          napi_ok)
    return -1;
  napi_property_descriptor d = {
      NULL, key, NULL, NULL, NULL, ext, napi_configurable, NULL};
  if (napi_define_properties(env, global, 1, &d) != napi_ok) return -1;
  return 0;
}

/* binding.errors: the error map as compiled, one { code, errno, message }
 * per entry in map order, so a test can check lib/errno.js (generated from
 * the header's text) against what the C compiler saw. */
static napi_value errors_array(napi_env env) {
  static const struct {
    const char* code;
    int errno_;
    const char* message;
  } map[] = {
#define NAT__ERR_ROW(name, value, msg) {"NAT_" #name, value, msg},
      NAT_ERRNO_MAP(NAT__ERR_ROW)
#undef NAT__ERR_ROW
  };
  napi_value arr, row, v;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  for (uint32_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
    if (napi_create_object(env, &row) != napi_ok ||
        napi_create_string_utf8(env, map[i].code, NAPI_AUTO_LENGTH, &v) !=
            napi_ok ||
        napi_set_named_property(env, row, "code", v) != napi_ok ||
        napi_create_int32(env, map[i].errno_, &v) != napi_ok ||
        napi_set_named_property(env, row, "errno", v) != napi_ok ||
        napi_create_string_utf8(env, map[i].message, NAPI_AUTO_LENGTH, &v) !=
            napi_ok ||
        napi_set_named_property(env, row, "message", v) != napi_ok ||
        napi_set_element(env, arr, i, row) != napi_ok)
      return NULL;
  }
  return arr;
}

NAPI_MODULE_INIT() {
  nat__env_t* e = calloc(1, sizeof(*e));
  if (e == NULL) {
    nat_throw(env, NAT_ENOMEM, "napi-async-trace: out of memory");
    return NULL;
  }
  e->env = env;
  e->serial = nat__env_next_serial();
  e->thread = uv_thread_self();
  if (napi_set_instance_data(env, e, env_finalize, NULL) != napi_ok) {
    free(e);
    nat_throw(env, NAT_ENAPI, "napi-async-trace: napi_set_instance_data");
    return NULL;
  }
  /* From now on env_finalize owns e (and removes the hook). */
  if (napi_add_env_cleanup_hook(env, env_cleanup, e) != napi_ok) {
    nat_throw(env, NAT_ENAPI, "napi-async-trace: napi_add_env_cleanup_hook");
    return NULL;
  }
  /* A second load in the same env (a cleared require cache) keeps the first
   * state current: frames must not split. */
  if (nat__env_current() == NULL) nat__env_set_current(e);

  napi_property_descriptor props[] = {
#define V(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL},
      NAT__EXPORTS(V)
#undef V
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]),
                             props) != napi_ok ||
      publish_api(env, exports) != 0) {
    nat_throw(env, NAT_ENAPI, "napi-async-trace: could not set up exports");
    return NULL;
  }

  napi_value tramp;
  if (napi_create_function(env, "natTrampoline", NAPI_AUTO_LENGTH,
                           js_trampoline, NULL, &tramp) != napi_ok ||
      napi_create_reference(env, tramp, 1, &e->trampoline_fn) != napi_ok ||
      (e->anchor = nat__anchor_create(env)) == NULL) {
    nat_throw(env, NAT_ENAPI, "napi-async-trace: could not set up exports");
    return NULL;
  }

  napi_value constants, v;
  napi_create_object(env, &constants);
  napi_create_uint32(env, sizeof(nat_record_t), &v);
  napi_set_named_property(env, constants, "RECORD_SIZE", v);
  napi_create_uint32(env, NAT_MIN_CAPACITY, &v);
  napi_set_named_property(env, constants, "MIN_CAPACITY", v);
  napi_create_uint32(env, NAT_MAX_CAPACITY, &v);
  napi_set_named_property(env, constants, "MAX_CAPACITY", v);
  napi_create_uint32(env, NAT_DEFAULT_CAPACITY, &v);
  napi_set_named_property(env, constants, "DEFAULT_CAPACITY", v);
  napi_create_uint32(env, NAT_SITE_NAME_MAX, &v);
  napi_set_named_property(env, constants, "SITE_NAME_MAX", v);
  napi_create_string_utf8(env, NAT_VERSION, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, constants, "VERSION", v);
  napi_set_named_property(env, exports, "constants", constants);
  napi_value errors = errors_array(env);
  if (errors == NULL ||
      napi_set_named_property(env, exports, "errors", errors) != napi_ok) {
    nat__throw(env, NAT_ENAPI, "napi-async-trace: could not set up exports");
    return NULL;
  }
  return exports;
}
