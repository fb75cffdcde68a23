/*
 * The functions lib/addons.js calls to rebind addons to the replacements of
 * nat__wrap_table (through the interposer, src/interpose) and to put them
 * back. JS thread of any env; the interposer serializes process-wide.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "nat_interpose.h"
#include "nat_wrap.h"

#define WRAP_NSYMS (sizeof(nat__wrap_table) / sizeof(nat__wrap_table[0]) - 1)

static nat_ip_sym_t wrap_syms[16];
static size_t wrap_nsyms = 0;
static uv_once_t wrap_syms_once = UV_ONCE_INIT;

static void wrap_syms_init(void) {
  for (size_t i = 0; nat__wrap_table[i].name != NULL && i < 16; i++) {
    wrap_syms[i].name = nat__wrap_table[i].name;
    wrap_syms[i].replacement = nat__wrap_table[i].fn;
    wrap_nsyms = i + 1;
  }
}

static const char* status_name(nat_ip_status_t s) {
  switch (s) {
#define NAT__IP_STATUS_NAME(name, value, msg) \
  case NAT_IP_##name:                         \
    return #name;
    NAT_IP_STATUS_MAP(NAT__IP_STATUS_NAME)
#undef NAT__IP_STATUS_NAME
  }
  return "UNKNOWN";
}

typedef struct {
  napi_env env;
  napi_value list;
  uint32_t n;
} report_ctx_t;

static void set_u32(napi_env env, napi_value o, const char* k, uint32_t v) {
  napi_value n;
  if (napi_create_uint32(env, v, &n) == napi_ok)
    napi_set_named_property(env, o, k, n);
}

static void set_str(napi_env env, napi_value o, const char* k, const char* v) {
  napi_value s;
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s) == napi_ok)
    napi_set_named_property(env, o, k, s);
}

/* Called after the interposer let go of its locks: may call Node-API. */
static void report_cb(const nat_ip_report_t* r, void* ud) {
  report_ctx_t* c = ud;
  napi_env env = c->env;
  /* Objects that import none of our names (libc, libstdc++, ...) are not
   * addons we could trace: left out of the list. */
  if (r->status == NAT_IP_NO_IMPORTS || r->status == NAT_IP_MAIN ||
      r->status == NAT_IP_VDSO || r->status == NAT_IP_SELF)
    return;
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return;
  set_str(env, o, "path", r->path != NULL ? r->path : "");
  char mod[96];
  nat__wrap_module_name(r->path != NULL ? r->path : "", mod, sizeof(mod));
  set_str(env, o, "module", mod);
  set_str(env, o, "status", status_name(r->status));
  set_str(env, o, "message", nat__ip_status_str(r->status));
  set_u32(env, o, "errno", (uint32_t)r->sys_errno);
  set_u32(env, o, "rebound", r->rebound);
  set_u32(env, o, "already", r->already);
  set_u32(env, o, "skipped", r->skipped);
  set_u32(env, o, "failed", r->failed);
  set_u32(env, o, "mprotects", r->mprotects);
  napi_value imports;
  if (napi_create_object(env, &imports) == napi_ok) {
    for (size_t i = 0; i < r->nsyms && i < wrap_nsyms; i++) {
      const nat_ip_count_t* k = &r->counts[i];
      if (k->rebound + k->already + k->skipped + k->failed == 0) continue;
      napi_value s;
      if (napi_create_object(env, &s) != napi_ok) continue;
      set_u32(env, s, "rebound", k->rebound);
      set_u32(env, s, "already", k->already);
      set_u32(env, s, "skipped", k->skipped);
      set_u32(env, s, "failed", k->failed);
      set_u32(env, s, "globDat", k->glob_dat);
      napi_set_named_property(env, imports, wrap_syms[i].name, s);
    }
    napi_set_named_property(env, o, "imports", imports);
  }
  napi_set_element(env, c->list, c->n++, o);
}

static int read_path(napi_env env, napi_value v, char** out) {
  size_t len = 0;
  napi_valuetype t;
  *out = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
      napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
    return NAT_EINVAL;
  char* p = malloc(len + 1);
  if (p == NULL) return NAT_ENOMEM;
  if (napi_get_value_string_utf8(env, v, p, len + 1, &len) != napi_ok ||
      strlen(p) != len) {
    free(p);
    return NAT_EINVAL;
  }
  *out = p;
  return 0;
}

/* addonsRebind() -> reports of every loaded object;
 * addonsRebind(path, flags) -> reports for the object at path, which is
 * dlopen()ed here first with Node's flags (so it can be rebound before
 * process.dlopen runs its init; Node's own dlopen then finds it loaded),
 * or null when that dlopen failed (Node's will fail the same way and say
 * why). */
napi_value nat__js_addons_rebind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  uv_once(&wrap_syms_once, wrap_syms_init);
  report_ctx_t c = {env, NULL, 0};
  if (napi_create_array(env, &c.list) != napi_ok) return NULL;
  int r;
  if (argc == 0) {
    r = nat__ip_rebind_loaded(wrap_syms, wrap_nsyms, nat__wrap_table,
                              report_cb, &c);
  } else {
    char* path;
    int32_t flags = RTLD_LAZY;
    int err = read_path(env, argv[0], &path);
    if (err != 0) {
      nat__throw(env, err, "path must be a string without NUL");
      return NULL;
    }
    if (argc > 1) napi_get_value_int32(env, argv[1], &flags);
    /* The handle is never closed: Node keeps addons loaded for the life of
     * the process, and its own dlopen of the same path shares this one. */
    void* handle = dlopen(path, flags);
    if (handle == NULL) {
      free(path);
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    r = nat__ip_rebind_object(NULL, handle, wrap_syms, wrap_nsyms,
                              nat__wrap_table, report_cb, &c);
    free(path);
  }
  if (r < 0 && r != NAT_EINVAL) {
    nat__throw(env, r, NULL);
    return NULL;
  }
  return c.list;
}

/* addonsRestore() -> { restored, changed } */
napi_value nat__js_addons_restore(napi_env env, napi_callback_info info) {
  (void)info;
  uint32_t changed = 0;
  int restored = nat__ip_restore_all(&changed);
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  set_u32(env, o, "restored", restored < 0 ? 0 : (uint32_t)restored);
  set_u32(env, o, "changed", changed);
  return o;
}

/* addonsInfo() -> { supported, untraced, recorded } */
napi_value nat__js_addons_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, b, n;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  napi_get_boolean(env, nat__ip_supported() != 0, &b);
  napi_set_named_property(env, o, "supported", b);
  napi_create_double(
      env,
      (double)atomic_load_explicit(&nat__wrap_untraced, memory_order_relaxed),
      &n);
  napi_set_named_property(env, o, "untraced", n);
  set_u32(env, o, "slots", (uint32_t)nat__ip_recorded());
  return o;
}

/* addonsConfigure(nodeScopeCarries): whether Node's own callback scopes
 * carry AsyncLocalStorage on this Node (lib's probe). */
napi_value nat__js_addons_configure(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool carries = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &carries) != napi_ok) {
    nat__throw(env, NAT_EINVAL, "nodeScopeCarries must be a boolean");
    return NULL;
  }
  atomic_store_explicit(&nat__wrap_node_scope_carries, carries ? 1 : 0,
                        memory_order_relaxed);
  return NULL;
}
