/*
 * Zero-code tracing: the replacements that the interposer binds in place of
 * an unmodified addon's Node-API imports (napi_*_async_work,
 * napi_*_threadsafe_function), and what they share.
 *
 * Every replacement calls the real Node-API function (this addon's own
 * imports are never rebound, so a plain call here reaches Node) and hands
 * back exactly the status and handles Node gave. The handles the addon
 * holds are always Node's own: a slot restored while objects made through
 * a replacement are alive (enable({ addons: false }), a failed rebind)
 * sends the addon's later calls to Node directly, and they still work; the
 * replacements therefore tell their own objects from others by looking
 * them up (a per-thread map for async work, arena membership for
 * threadsafe functions and their items), never by trusting a pointer.
 *
 * Recording off (nat__is_enabled() false) or this addon not loaded in the
 * calling env: create calls pass straight through and the object is never
 * ours; calls on objects that are not ours pass straight through.
 *
 * Threads: as Node-API's own rules. Async work and threadsafe-function
 * creation, queue, cancel, delete, ref, unref: the JS thread of the env;
 * napi_call/acquire/release_threadsafe_function and
 * napi_get_threadsafe_function_context: any thread.
 */
#ifndef NAT_WRAP_H
#define NAT_WRAP_H

#include "nat_napi.h"
#include "nat_warena.h"

/* ---- per-env state of the wrappers -------------------------------------- */

typedef struct nat__wmap_s {
  void** keys; /* napi_async_work handles; NULL = empty slot */
  void** vals;
  uint32_t cap; /* power of two, at most half full */
  uint32_t len;
} nat__wmap_t;

/*
 * One per JS thread that made an object through a replacement, created on
 * first use. `live` counts the env itself (dropped by its cleanup hook,
 * which also sets `dead`) and every object made here; the last to let go
 * frees it, which may be a native thread whose threadsafe-function call
 * failed after the function was finalized. Everything else is touched only
 * on the JS thread (Node runs complete, call_js and finalizers there).
 */
typedef struct nat__wenv_s {
  napi_env env;     /* this addon's env on that thread (for our JS work) */
  uint32_t serial;  /* the env serial events carry */
  uv_thread_t thread;
  int dead;         /* this addon's env is being torn down: no JS, no napi */
  _Atomic uint32_t live; /* the env + objects made here, not yet freed */
  nat__wmap_t works;
} nat__wenv_t;

/* The calling thread's wrapper state, created when this addon is loaded in
 * the thread's env and recording is on; NULL otherwise. JS thread. */
nat__wenv_t* nat__wenv_current(void);
/* The calling thread's wrapper state if it has one (never creates). */
nat__wenv_t* nat__wenv_peek(void);
/* One more object of w. */
void nat__wenv_ref(nat__wenv_t* w);
/* One object of w is gone; frees w when it was the last of a dead env. */
void nat__wenv_unref(nat__wenv_t* w);

/* Map of napi_async_work handle -> our record (JS thread of the wenv). */
/* Makes room for one more entry, so the next put cannot fail. */
int nat__wmap_reserve(nat__wmap_t* m);
/* Adds or replaces; NAT_ENOMEM when growing failed. */
int nat__wmap_put(nat__wmap_t* m, void* key, void* val);
void* nat__wmap_get(const nat__wmap_t* m, const void* key);
void nat__wmap_del(nat__wmap_t* m, const void* key);

/* ---- the arena of wrapper objects --------------------------------------- */

/* Records and items live in the arena of src/core/warena.c: membership is
 * checked without a lock, so the replacements can tell their own objects
 * from the addon's. */
#define NAT__WSLOT_SIZE NAT__WARENA_SLOT

enum {
  NAT__WKIND_FREE = NAT__WARENA_FREE,
  NAT__WKIND_WORK = 0x57524b31,  /* an async work record */
  NAT__WKIND_TSFN = 0x5453464e,  /* a threadsafe function record */
  NAT__WKIND_ITEM = 0x4954454d   /* one napi_call_threadsafe_function item */
};

/* ---- sites -------------------------------------------------------------- */

/*
 * The site of an object created by an addon: `<module>:<name>`, where
 * module comes from the path of the shared object that contains `caller`
 * (its npm package name, platform suffix dropped, else its file name) and
 * name is the async_resource_name string (any other value: `fallback`).
 * Returns the site index, 0 when none could be made. JS thread.
 */
uint32_t nat__wrap_site(const void* caller, napi_env env, napi_value name,
                        const char* fallback);

/*
 * Opens the requester's context of one object or run of `site` in the
 * current JS frame: napi_async_init with no resource of ours (the context
 * holds the object Node makes for it, which is what async_hooks and, on
 * Node 20 and 22, AsyncLocalStorage see), typed with the site's name, so
 * a->resource stays NULL and nat__dispatch enters it through the context
 * alone. One object, string and reference fewer per run than
 * nat__async_open. 0, or NAT_ENAPI with *a empty. JS thread of w.
 */
int nat__wrap_async_open(nat__wenv_t* w, uint32_t site, nat__async_t* a);

/* The module name of a shared object's path: its npm package name (the
 * last node_modules/<name> or node_modules/@scope/<name>, a platform suffix
 * such as -linux-x64-gnu dropped), else the file name up to its first dot.
 * Any thread. */
void nat__wrap_module_name(const char* path, char* out, size_t size);

/* The module name of the object that contains `addr` ("" when unknown);
 * for nat.addons() and tests. Any thread. */
int nat__wrap_module(const void* addr, char* buf, size_t size);

/*
 * nat__dispatch for an addon callback that Node called with addon_env: runs
 * fn(arg) in the frame and context as nat__dispatch does (link_id names
 * the item to the work hook), through this addon's env (its references and trampoline belong to it). JS thread.
 */
void nat__wrap_dispatch(nat__wenv_t* w, napi_env addon_env, uint32_t site,
                        uint64_t ready_id, uint64_t link_id, int frame,
                        const nat__async_t* a, void (*fn)(void*), void* arg);

/* Set by lib (addonsConfigure) when Node's own callback scopes carry
 * AsyncLocalStorage (Node 20, 22; not with AsyncContextFrame, Node 24+):
 * then a threadsafe-function call from a native thread, whose context is
 * the creator's, needs no scope of ours. Any thread reads it. */
extern _Atomic int nat__wrap_node_scope_carries;

/* Counts of calls that could not be traced (arena full, map growth
 * failed, a context could not be made): they ran untraced. */
extern _Atomic uint64_t nat__wrap_untraced;

/* ---- the replacements --------------------------------------------------- */

napi_status nat__wrap_create_async_work(
    napi_env env, napi_value async_resource, napi_value async_resource_name,
    napi_async_execute_callback execute, napi_async_complete_callback complete,
    void* data, napi_async_work* result);
napi_status nat__wrap_queue_async_work(napi_env env, napi_async_work work);
napi_status nat__wrap_delete_async_work(napi_env env, napi_async_work work);

napi_status nat__wrap_create_threadsafe_function(
    napi_env env, napi_value func, napi_value async_resource,
    napi_value async_resource_name, size_t max_queue_size,
    size_t initial_thread_count, void* thread_finalize_data,
    napi_finalize thread_finalize_cb, void* context,
    napi_threadsafe_function_call_js call_js_cb,
    napi_threadsafe_function* result);
napi_status nat__wrap_call_threadsafe_function(
    napi_threadsafe_function func, void* data,
    napi_threadsafe_function_call_mode is_blocking);
napi_status nat__wrap_get_threadsafe_function_context(
    napi_threadsafe_function func, void** result);

/* One import the interposer rebinds: its name and our replacement. The
 * table ends with a NULL name. napi_acquire/release/ref/unref need no
 * replacement: they act on Node's handle, which the addon holds as is, and
 * the record follows Node's lifecycle through the finalizer. */
typedef struct {
  const char* name;
  void* fn;
} nat__wrap_entry_t;

extern const nat__wrap_entry_t nat__wrap_table[];

/* lib/addons.js's entry points (wrap_binding.c), exported by binding.c. */
napi_value nat__js_addons_rebind(napi_env env, napi_callback_info info);
napi_value nat__js_addons_restore(napi_env env, napi_callback_info info);
napi_value nat__js_addons_info(napi_env env, napi_callback_info info);
napi_value nat__js_addons_configure(napi_env env, napi_callback_info info);

#endif /* NAT_WRAP_H */
