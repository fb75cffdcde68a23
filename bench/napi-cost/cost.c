/*
 * What Node-API itself costs for the per-run context that zero-code
 * tracing gives each async work run (bench/napi-cost.js runs it): per
 * iteration, in a handle scope, a type string and a napi_async_init with
 * no resource, then either nothing, napi_open/close_callback_scope (how
 * the wrappers enter it on Node 20 and 22) or napi_make_callback of an
 * empty native function (Node 24+), then napi_async_destroy. A benchmark
 * helper, not part of the package.
 */
#include <node_api.h>
#include <stdint.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static napi_value empty(napi_env env, napi_callback_info info) {
  return NULL;
}

/* run(mode, n) -> ns per iteration. mode 0: handle scope + string only;
 * 1: + napi_async_init/destroy; 2: + open/close callback scope; 3: +
 * napi_make_callback of an empty native function. */
static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], fn, recv, r;
  int32_t mode = 0, n = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_int32(env, argv[0], &mode);
  napi_get_value_int32(env, argv[1], &n);
  napi_create_function(env, "empty", NAPI_AUTO_LENGTH, empty, NULL, &fn);
  napi_get_global(env, &recv);
  uint64_t t0 = now_ns();
  for (int32_t i = 0; i < n; i++) {
    napi_handle_scope hs;
    napi_value type;
    napi_async_context ctx = NULL;
    napi_open_handle_scope(env, &hs);
    napi_create_string_latin1(env, "plain:work", 10, &type);
    if (mode >= 1) napi_async_init(env, NULL, type, &ctx);
    if (mode == 2) {
      napi_callback_scope scope;
      napi_open_callback_scope(env, NULL, ctx, &scope);
      napi_close_callback_scope(env, scope);
    } else if (mode == 3) {
      napi_make_callback(env, ctx, recv, fn, 0, NULL, NULL);
    }
    if (ctx != NULL) napi_async_destroy(env, ctx);
    napi_close_handle_scope(env, hs);
  }
  double ns = (double)(now_ns() - t0) / (n > 0 ? n : 1);
  napi_create_double(env, ns, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, run, NULL, &f);
  napi_set_named_property(env, exports, "run", f);
  return exports;
}
