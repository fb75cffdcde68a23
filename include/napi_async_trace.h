/*
 * napi_async_trace.h: the C ABI of napi-async-trace for other addons.
 *
 * Node loads addons with RTLD_LOCAL, so an addon cannot link to our symbols.
 * Instead the engine publishes one `static const nat_api_t` table, as a
 * Node-API External, on `require('napi-async-trace').nativeApi` and on
 * `globalThis[Symbol.for('napi-async-trace:api')]`. An addon includes only
 * this header and calls nat_import() from its module init (after
 * `require('napi-async-trace')` has run in that thread):
 *
 *     static const nat_api_t* nat;
 *     NAPI_MODULE_INIT() {
 *       if (nat_import(env, &nat) != 0) return NULL;  // a JS error is pending
 *       ...
 *     }
 *
 * Versioning: the table starts with its size and is only ever appended to;
 * each entry says `@since` which ABI minor added it. nat_import() checks a
 * magic, the ABI major and that the engine's table is at least as large as
 * the one this header describes (see nat_import_min() to accept older
 * engines).
 *
 * Threads: every entry says which threads may call it.
 * - "JS thread" means the thread of a Node.js env (the main thread or a
 *   Worker's) on which napi-async-trace has been required. Entries that
 *   record in "the current frame" use that thread's frame stack.
 * - "any thread" means any thread, including threads Node does not know.
 * Errors are the negative nat_errno_t values of napi_async_trace_defs.h;
 * calling a JS-thread-only entry on another thread returns NAT_EWRONGTHREAD.
 * While recording is off the marks return 0 and hand out ID 0.
 */
#ifndef NAPI_ASYNC_TRACE_H
#define NAPI_ASYNC_TRACE_H

#include <node_api.h>
#include <string.h>

#include "napi_async_trace_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NAT_ABI_MAJOR 1
#define NAT_ABI_MINOR 0
#define NAT_API_MAGIC 0x4e415431u /* "NAT1" */
#define NAT_API_SYMBOL "napi-async-trace:api"

/* An event ID from the process-wide counter; 0 is the root context. */
typedef uint64_t nat_id_t;

/*
 * A site: an interned `module:kind` name bound to the env that created it.
 * A plain value, copied freely and usable from any thread.
 */
typedef struct nat_site_s {
  uint32_t index; /* interned name, >= 1 */
  uint32_t env;   /* serial of the env that created it */
} nat_site_t;

typedef struct nat_api_s {
  /* Size in bytes of the engine's table. @since 1.0 */
  uint32_t size;
  /* NAT_API_MAGIC. @since 1.0 */
  uint32_t magic;
  /* The engine's ABI version. @since 1.0 */
  uint32_t abi_major;
  uint32_t abi_minor;
  /* The package version, e.g. "0.1.0". @since 1.0 */
  const char* version;

  /* A readable message / the name ("EINVAL") of an error code; never NULL.
   * Any thread. @since 1.0 */
  const char* (*strerror)(int err);
  const char* (*err_name)(int err);

  /* Non-zero while recording. A relaxed load: any thread. @since 1.0 */
  int (*enabled)(void);

  /* Interns `name` (`module:kind`, 1..NAT_SITE_NAME_MAX bytes) as a site of
   * the calling thread's env. JS thread. @since 1.0 */
  int (*site)(const char* name, nat_site_t* out);

  /*
   * Manual marks, for addons that dispatch through their own uv_async_t.
   * @since 1.0
   *
   * link: records `link` and stores the new link ID in *link_id. On a JS
 *   thread the link belongs to that thread's current frame, on any other
 *   thread to the root (0). Any thread.
 * link_from: as link, attributed to the frame `execute_id` (the frame that
 *   created the queue, say). Any thread.
 * ready: records `ready` of `link_id`; the frame making it ready is the
   *   current frame on a JS thread, 0 elsewhere. Any thread.
   * frame_begin: records `executionBegin` for `ready_id` and pushes the new
   *   frame on the thread's frame stack. JS thread.
   * frame_end: records `executionEnd` and pops; `execute_id` must be the
   *   innermost open frame (NAT_EFRAME otherwise). JS thread.
   * current_frame: the innermost open frame's ID, 0 at the root. JS thread.
   */
  int (*link)(nat_site_t site, nat_id_t* link_id);
  int (*link_from)(nat_site_t site, nat_id_t execute_id, nat_id_t* link_id);
  int (*ready)(nat_site_t site, nat_id_t link_id, nat_id_t* ready_id);
  int (*frame_begin)(nat_site_t site, nat_id_t ready_id, nat_id_t* execute_id);
  int (*frame_end)(nat_id_t execute_id);
  int (*current_frame)(nat_id_t* execute_id);
} nat_api_t;

/*
 * Finds the engine's table in the calling env, checks it and stores it in
 * *api. Returns 0, or NAT_ENOTLOADED / NAT_EVERSION / NAT_ENAPI with a JS
 * Error (whose `code` is "NAT_ENOTLOADED", ...) pending in env. `min_size`
 * is the smallest table the caller can work with: sizeof(nat_api_t) (what
 * nat_import passes) or offsetof the first entry it does not use. JS thread.
 */
static inline int nat_import_min(napi_env env, const nat_api_t** api,
                                 size_t min_size) {
  napi_value global, symbol_ctor, symbol_for, key, value;
  napi_valuetype type;
  const nat_api_t* table = NULL;
  void* data = NULL;
  int err = NAT_ENAPI;
  const char* code = "NAT_ENAPI";
  const char* msg = "napi-async-trace: a Node-API call failed in nat_import";

  *api = NULL;
  if (napi_get_global(env, &global) != napi_ok) goto fail;
  if (napi_get_named_property(env, global, "Symbol", &symbol_ctor) != napi_ok)
    goto fail;
  if (napi_get_named_property(env, symbol_ctor, "for", &symbol_for) !=
      napi_ok)
    goto fail;
  if (napi_create_string_utf8(env, NAT_API_SYMBOL, NAPI_AUTO_LENGTH, &key) !=
      napi_ok)
    goto fail;
  if (napi_call_function(env, symbol_ctor, symbol_for, 1, &key, &key) !=
      napi_ok)
    goto fail;
  if (napi_get_property(env, global, key, &value) != napi_ok) goto fail;
  if (napi_typeof(env, value, &type) != napi_ok) goto fail;
  if (type != napi_external) {
    err = NAT_ENOTLOADED;
    code = "NAT_ENOTLOADED";
    msg = "napi-async-trace is not loaded in this thread: "
          "require('napi-async-trace') before loading this addon";
    goto fail;
  }
  if (napi_get_value_external(env, value, &data) != napi_ok) goto fail;
  table = (const nat_api_t*)data;
  err = NAT_EVERSION;
  code = "NAT_EVERSION";
  if (table == NULL || table->magic != NAT_API_MAGIC) {
    msg = "napi-async-trace: the API table found is not napi-async-trace's";
    goto fail;
  }
  if (table->abi_major != NAT_ABI_MAJOR) {
    msg = "napi-async-trace: the loaded engine has another ABI major version "
          "than this addon was built for";
    goto fail;
  }
  if (table->size < min_size) {
    msg = "napi-async-trace: the loaded engine is older than this addon "
          "needs (its API table is smaller); upgrade napi-async-trace";
    goto fail;
  }
  *api = table;
  return 0;

fail:
  napi_throw_error(env, code, msg);
  return err;
}

static inline int nat_import(napi_env env, const nat_api_t** api) {
  return nat_import_min(env, api, sizeof(nat_api_t));
}

#ifdef __cplusplus
}
#endif

#endif /* NAPI_ASYNC_TRACE_H */
