/*
 * The addon's internal interface: per-env state, the frame stack and the
 * helpers the binding files share. Node-API lives here, never in src/core.
 */
#ifndef NAT_NAPI_H
#define NAT_NAPI_H

#include <node_api.h>
#include <uv.h>

#include "napi_async_trace.h"
#include "nat_core.h"

#ifndef NAT_VERSION
#define NAT_VERSION "0.0.0-dev"
#endif

/* Deepest frame nesting accepted on one thread. */
#define NAT__MAX_FRAME_DEPTH 65536u

/*
 * One per env that loaded the addon (the main thread, each Worker). Created
 * in module init, freed by the env cleanup hook; touched only on the env's
 * own JS thread, except `serial`, which is copied into sites and records.
 *
 * The calling thread's env is found through a thread-local pointer, not
 * through napi_env: an addon using the C ABI has its own napi_env, which
 * does not carry our instance data. Node runs one env per thread.
 */
typedef struct nat__env_s {
  napi_env env;
  uint32_t serial;
  uv_thread_t thread;
  int closing;     /* the cleanup hook has started */
  int root_open;   /* executionBegin 0 recorded, executionEnd 0 pending */

  /* Open frames, innermost last. A frame begun while recording was off has
   * ID 0 and records nothing. */
  uint64_t* frames;
  uint32_t depth;
  uint32_t frames_cap;

  napi_ref api_external; /* the nativeApi External of this env */
} nat__env_t;

/* The env whose JS thread is the calling thread, or NULL. */
nat__env_t* nat__env_current(void);
void nat__env_set_current(nat__env_t* e);

/* Allocates a new env serial (1 for the first env in the process). */
uint32_t nat__env_next_serial(void);

/* Frame stack (JS thread of e). */
int nat__frame_begin(nat__env_t* e, uint32_t site, uint64_t ready_id,
                     uint64_t* execute_id);
int nat__frame_end(nat__env_t* e, uint64_t execute_id);
uint64_t nat__frame_current(const nat__env_t* e);

/* Records a link in frame `execute_id`; *link_id is 0 when not recording. */
void nat__mark_link(uint32_t site, uint32_t env, uint64_t execute_id,
                    uint64_t* link_id);
/* Records a ready of link_id made by frame `execute_id`. */
void nat__mark_ready(uint32_t site, uint32_t env, uint64_t execute_id,
                     uint64_t link_id, uint64_t* ready_id);

/* The exported table. */
extern const nat_api_t nat__api;

const char* nat__strerror(int err);
const char* nat__err_name(int err);

/* Throws a JS error for a nat_errno_t: TypeError for NAT_EINVAL, RangeError
 * for NAT_ENAMETOOLONG, Error otherwise, with `code` set to its name. */
void nat__throw(napi_env env, int err, const char* msg);

#endif /* NAT_NAPI_H */
