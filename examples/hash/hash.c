/*
 * examples/hash: an addon that hashes buffers with SHA-256 on a small pool
 * of native threads and delivers each digest through a tracked queue of
 * napi-async-trace. It is built against include/napi_async_trace.h only
 * (the public C ABI), the way any other addon would use the engine.
 *
 * Each hash is one task of the hasher's queue: linked on the JS thread in
 * the caller's frame (the task gets the caller's async context, so the
 * callback sees its AsyncLocalStorage store), made ready by the pool
 * thread that computed the digest, and dispatched on the JS thread inside
 * its own execution frame.
 *
 * Threads:
 *   JS thread (the env's):  js_create, js_hash, js_close, call_js,
 *     queue_finalized, handle_finalize, env_cleanup, and everything they
 *     call. Fields of hasher_t marked "JS" are touched only there.
 *   pool threads:  pool_main. They take jobs from `head` (under `mu`),
 *     hash, call queue_ready, and give a job whose ready failed back
 *     through `orphans` (under `mu`).
 *   drop:  wherever the engine calls it (the JS thread, or a thread whose
 *     ready failed); it only moves the job to `orphans`, under `mu`.
 *
 * Who owns a job (and so may free it):
 *   js_hash (JS) -> the pool list -> the pool thread that popped it ->
 *     queue_ready succeeded: the engine, until call_js (JS: frees it) or
 *       drop (-> orphans);
 *     queue_ready failed (the queue is closing): -> orphans.
 *   A job holds two napi references (the buffer and the callback), which
 *   may be deleted only on the JS thread: orphans and jobs still in the
 *   pool list are freed there, after the pool is joined and when the queue
 *   finalizes.
 *
 * Lifetimes. A hasher's queue is ref'ed (keeps the loop alive) and its
 * handle object strongly referenced only while hashes are outstanding, so
 * an idle hasher never holds the process open. close() takes no new
 * hashes; the ones outstanding still call back, and after the last one the
 * queue is released and the pool joined. Env teardown (process exit, a
 * Worker terminated) aborts the queue instead: hashes not yet delivered
 * are freed without their callbacks. The hasher_t is freed once the
 * engine finalized the queue, the pool is joined and the handle object is
 * gone, whichever comes last.
 */
#include <napi_async_trace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sha256.h"

#define HASH_MAX_THREADS 16

static const nat_api_t* nat; /* the engine's static table, the same in every env */

/* Tags the External that is a hasher handle, so a wrong handle is an
 * error and never a crash. */
static const napi_type_tag hasher_tag = {0x6e61742d68617368ULL,
                                         0x7368613235360001ULL};

typedef struct job_s {
  struct job_s* next;
  nat_task_t* task;     /* consumed by queue_ready / task_cancel */
  napi_ref buffer;      /* keeps `data` alive; JS thread */
  napi_ref callback;    /* JS thread */
  const uint8_t* data;  /* read by one pool thread */
  size_t len;
  uint8_t digest[EX_SHA256_DIGEST_SIZE]; /* written by that thread */
} job_t;

typedef struct {
  napi_env env;
  nat_queue_t* q; /* valid until queue_finalized */

  /* JS */
  napi_ref self;         /* the handle: strong while hashes are outstanding */
  uint64_t outstanding;  /* accepted, not yet delivered or freed */
  int closing;           /* close() or teardown: no new hashes */
  int released;          /* our queue reference was released or aborted */
  int queue_finalized;   /* the engine's finalize ran: `q` is gone */
  int handle_gone;       /* the handle object was finalized */
  int hook;              /* the env cleanup hook is registered */
  int joined;            /* the pool threads were joined */

  /* The pool. `mu` guards head, tail, stop and orphans. */
  uv_mutex_t mu;
  uv_cond_t cv;
  job_t* head;
  job_t* tail;
  job_t* orphans;
  int stop;
  int nthreads;
  uv_thread_t threads[HASH_MAX_THREADS];
} hasher_t;

/* ---- errors ------------------------------------------------------------- */

/* Every error this addon throws speaks the engine's vocabulary: nat_throw
 * gives it the code (NAT_EINVAL, ...) and the class (TypeError for
 * NAT_EINVAL, RangeError for NAT_ERANGE, Error otherwise). */
static napi_value throw_code(napi_env env, int err, const char* msg) {
  nat_throw(env, err, msg);
  return NULL;
}

/* An error returned by the engine, with what failed in the message. */
static napi_value throw_nat(napi_env env, int err, const char* what) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s", what, nat_err_message(err));
  nat_throw(env, err, msg);
  return NULL;
}

/* ---- the pool (pool threads) -------------------------------------------- */

static void pool_main(void* arg) {
  hasher_t* h = arg;
  for (;;) {
    uv_mutex_lock(&h->mu);
    while (h->head == NULL && !h->stop) uv_cond_wait(&h->cv, &h->mu);
    if (h->stop) {
      /* Jobs left in the list are the JS thread's after the join. */
      uv_mutex_unlock(&h->mu);
      return;
    }
    job_t* j = h->head;
    h->head = j->next;
    if (h->head == NULL) h->tail = NULL;
    uv_mutex_unlock(&h->mu);

    ex_sha256(j->data, j->len, j->digest);
    /* Blocking never waits here: the queue has no size limit. */
    int err = nat->queue_ready(j->task, j, napi_tsfn_blocking);
    if (err == 0) continue; /* the engine's now: call_js or drop */
    /* NAT_ECLOSING (abort or teardown) and NAT_ENAPI: the engine aborted
     * and freed the task. Only NAT_EFULL (never, here: no size limit)
     * leaves it ours, to cancel. */
    if (err == NAT_EFULL) nat->task_cancel(j->task);
    j->task = NULL;
    uv_mutex_lock(&h->mu);
    j->next = h->orphans;
    h->orphans = j;
    uv_mutex_unlock(&h->mu);
  }
}

/* ---- jobs and the hasher's state (JS thread) ---------------------------- */

static void job_free(napi_env env, job_t* j) {
  if (j->buffer != NULL) napi_delete_reference(env, j->buffer);
  if (j->callback != NULL) napi_delete_reference(env, j->callback);
  free(j);
}

static void hasher_shutdown(hasher_t* h, int abort);

/* A hash accepted by js_hash has ended: delivered, dropped or cancelled. */
static void settle(hasher_t* h) {
  if (--h->outstanding != 0) return;
  /* Idle: nothing of ours should keep the loop or the handle alive. */
  if (!h->released && !h->queue_finalized) nat->queue_unref(h->env, h->q);
  if (h->self != NULL) napi_reference_unref(h->env, h->self, NULL);
  if (h->closing && !h->released) hasher_shutdown(h, 0);
}

/* Frees the jobs that came back (ready failed, or dropped). */
static void sweep_orphans(hasher_t* h) {
  uv_mutex_lock(&h->mu);
  job_t* j = h->orphans;
  h->orphans = NULL;
  uv_mutex_unlock(&h->mu);
  while (j != NULL) {
    job_t* next = j->next;
    job_free(h->env, j);
    settle(h);
    j = next;
  }
}

/* Gives back our queue reference (release, or abort: queued hashes are
 * dropped), stops and joins the pool, and frees the jobs it never
 * started. Idempotent. */
static void hasher_shutdown(hasher_t* h, int abort) {
  h->closing = 1;
  if (!h->released) {
    h->released = 1;
    if (!h->queue_finalized) {
      /* queue_abort closes the queue but gives back no reference. */
      if (abort) nat->queue_abort(h->q);
      nat->queue_release(h->q);
    }
  }
  if (h->joined) return;
  /* Pool threads never wait for this thread (ready does not block on an
   * unlimited queue, and after an abort it fails at once), so the join
   * ends as soon as each finishes the digest it is computing. */
  uv_mutex_lock(&h->mu);
  h->stop = 1;
  uv_cond_broadcast(&h->cv);
  uv_mutex_unlock(&h->mu);
  for (int i = 0; i < h->nthreads; i++) uv_thread_join(&h->threads[i]);
  h->joined = 1;
  job_t* j = h->head;
  h->head = h->tail = NULL;
  while (j != NULL) {
    job_t* next = j->next;
    nat->task_cancel(j->task); /* recorded as an abort */
    job_free(h->env, j);
    settle(h);
    j = next;
  }
  sweep_orphans(h);
}

static void maybe_free(hasher_t* h) {
  if (!h->queue_finalized || !h->handle_gone || !h->joined || h->hook) return;
  sweep_orphans(h); /* nothing can add to it now */
  uv_cond_destroy(&h->cv);
  uv_mutex_destroy(&h->mu);
  free(h);
}

/* ---- queue callbacks ---------------------------------------------------- */

/* JS thread, in the hash's own execution frame and its requester's async
 * context: deliver (null, hexDigest) and free the job. */
static void call_js(napi_env env, napi_value js_cb, void* context,
                    void* data) {
  hasher_t* h = context;
  job_t* j = data;
  char hex[2 * EX_SHA256_DIGEST_SIZE + 1];
  ex_sha256_hex(j->digest, hex);
  napi_value cb, argv[2], undefined;
  int ok = napi_get_reference_value(env, j->callback, &cb) == napi_ok &&
           napi_get_null(env, &argv[0]) == napi_ok &&
           napi_create_string_latin1(env, hex, NAPI_AUTO_LENGTH, &argv[1]) ==
               napi_ok &&
           napi_get_undefined(env, &undefined) == napi_ok;
  job_free(env, j);
  settle(h); /* may release the queue and join the pool after close() */
  /* Last, so a callback that throws leaves nothing undone. Its exception
   * is handed to process 'uncaughtException' here: left pending, Node 20
   * would only print a DEP0168 warning for the engine's env and drop it. */
  if (ok && napi_call_function(env, undefined, cb, 2, argv, NULL) ==
                napi_pending_exception) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok)
      napi_fatal_exception(env, exception);
  }
}

/* A hash made ready that will never be delivered (the queue was aborted).
 * No JS here: the job goes to the JS thread's sweep. */
static void drop(void* context, void* data) {
  hasher_t* h = context;
  job_t* j = data;
  j->task = NULL;
  uv_mutex_lock(&h->mu);
  j->next = h->orphans;
  h->orphans = j;
  uv_mutex_unlock(&h->mu);
}

/* JS thread, once, after every drop. `q` may not be used from here on. */
static void queue_finalized(napi_env env, void* finalize_data,
                            void* context) {
  hasher_t* h = finalize_data;
  h->queue_finalized = 1;
  h->released = 1;
  sweep_orphans(h);
  maybe_free(h);
}

/* ---- teardown ----------------------------------------------------------- */

/* Env teardown with the hasher still open: abort (wakes and fails every
 * ready, drops what is queued), then join. */
static void env_cleanup(void* arg) {
  hasher_t* h = arg;
  h->hook = 0;
  hasher_shutdown(h, 1);
  maybe_free(h);
}

/* The handle object was collected (or the env is going). Outside teardown
 * nothing is outstanding (the handle is held while something is), so this
 * is a release; at teardown it may not be, hence the abort then. */
static void handle_finalize(napi_env env, void* data, void* hint) {
  hasher_t* h = data;
  if (h->hook) {
    napi_remove_env_cleanup_hook(env, env_cleanup, h);
    h->hook = 0;
  }
  if (h->self != NULL) {
    napi_delete_reference(env, h->self);
    h->self = NULL;
  }
  hasher_shutdown(h, h->outstanding != 0);
  h->handle_gone = 1;
  maybe_free(h);
}

/* ---- JS functions ------------------------------------------------------- */

static hasher_t* get_hasher(napi_env env, napi_value v) {
  napi_valuetype t;
  bool tagged = false;
  void* p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &hasher_tag, &tagged) != napi_ok ||
      !tagged || napi_get_value_external(env, v, &p) != napi_ok) {
    throw_code(env, NAT_EINVAL,
               "The \"hasher\" argument must be a hasher handle");
    return NULL;
  }
  return p;
}

/* create(name, threads) -> handle */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  char name[NAT_SITE_NAME_MAX + 2];
  size_t len = 0;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_string)
    return throw_code(env, NAT_EINVAL,
                      "The \"name\" argument must be a string");
  napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len);
  if (len == 0 || len > NAT_SITE_NAME_MAX)
    return throw_code(env, NAT_EINVAL,
                      "The \"name\" argument must be 1 to 255 bytes long");
  int32_t threads = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &threads) != napi_ok)
    return throw_code(env, NAT_EINVAL,
                      "The \"threads\" argument must be a number");
  if (threads < 1 || threads > HASH_MAX_THREADS)
    return throw_code(env, NAT_ERANGE,
                       "The \"threads\" argument must be from 1 to 16");

  hasher_t* h = calloc(1, sizeof(*h));
  if (h == NULL) return throw_nat(env, NAT_ENOMEM, "createHasher");
  h->env = env;
  if (uv_mutex_init(&h->mu) != 0) {
    free(h);
    return throw_nat(env, NAT_ENOMEM, "createHasher");
  }
  if (uv_cond_init(&h->cv) != 0) {
    uv_mutex_destroy(&h->mu);
    free(h);
    return throw_nat(env, NAT_ENOMEM, "createHasher");
  }

  /* Per-task contexts (flags 0): each callback runs in the async context
   * of the frame that called hash(). No size limit: pool threads never
   * block in queue_ready. One thread reference, ours, given back by
   * close() or teardown. */
  nat_queue_options_t o;
  memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.name = name;
  o.func = NULL;
  o.max_queue_size = 0;
  o.initial_thread_count = 1;
  o.flags = 0;
  o.context = h;
  o.call_js = call_js;
  o.drop = drop;
  o.finalize = queue_finalized;
  o.finalize_data = h;
  int err = nat->queue_create(env, &o, &h->q);
  if (err != 0) {
    uv_cond_destroy(&h->cv);
    uv_mutex_destroy(&h->mu);
    free(h);
    return throw_nat(env, err, "queue_create");
  }
  /* From here the queue owns `h` until it finalizes. Idle: unref'ed. */
  nat->queue_unref(env, h->q);

  napi_value handle;
  if (napi_create_external(env, h, handle_finalize, NULL, &handle) !=
      napi_ok) {
    /* No handle will ever free h: close everything now. */
    h->handle_gone = 1;
    hasher_shutdown(h, 1);
    maybe_free(h);
    return throw_nat(env, NAT_ENAPI, "createHasher");
  }
  /* From here the handle's finalizer shuts down on every failure path. */
  if (napi_type_tag_object(env, handle, &hasher_tag) != napi_ok ||
      napi_create_reference(env, handle, 0, &h->self) != napi_ok)
    return throw_nat(env, NAT_ENAPI, "createHasher");
  if (napi_add_env_cleanup_hook(env, env_cleanup, h) != napi_ok)
    return throw_nat(env, NAT_ENAPI, "createHasher");
  h->hook = 1;
  for (int i = 0; i < threads; i++) {
    if (uv_thread_create(&h->threads[i], pool_main, h) != 0) {
      hasher_shutdown(h, 1);
      return throw_nat(env, NAT_ENOMEM, "createHasher: starting threads");
    }
    h->nthreads++;
  }
  return handle;
}

/* The bytes of a Buffer, TypedArray or DataView; 0 if it is none. */
static int view_bytes(napi_env env, napi_value v, const uint8_t** data,
                      size_t* len) {
  bool is = false;
  void* p = NULL;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    /* Buffers are Uint8Arrays. `p` already includes the byte offset. */
    napi_typedarray_type type;
    size_t n;
    if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) !=
        napi_ok)
      return 0;
    static const size_t size[] = {
        [napi_int8_array] = 1,         [napi_uint8_array] = 1,
        [napi_uint8_clamped_array] = 1, [napi_int16_array] = 2,
        [napi_uint16_array] = 2,       [napi_int32_array] = 4,
        [napi_uint32_array] = 4,       [napi_float32_array] = 4,
        [napi_float64_array] = 8,      [napi_bigint64_array] = 8,
        [napi_biguint64_array] = 8};
    if ((size_t)type >= sizeof(size) / sizeof(size[0]) || size[type] == 0)
      return 0;
    *data = p;
    *len = n * size[type];
    return 1;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is &&
      napi_get_dataview_info(env, v, len, &p, NULL, NULL) == napi_ok) {
    *data = p;
    return 1;
  }
  return 0;
}

/* hash(handle, data, callback): link a task in the calling frame, keep
 * `data` alive, hand the job to the pool. */
static napi_value js_hash(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  if (argc < 3)
    return throw_code(env, NAT_EINVAL,
                      "hash(handle, data, callback) takes 3 arguments");
  hasher_t* h = get_hasher(env, argv[0]);
  if (h == NULL) return NULL;
  const uint8_t* data = NULL;
  size_t len = 0;
  if (!view_bytes(env, argv[1], &data, &len))
    return throw_code(env, NAT_EINVAL,
                      "The \"data\" argument must be a Buffer, TypedArray "
                      "or DataView");
  napi_valuetype t;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function)
    return throw_code(env, NAT_EINVAL,
                      "The \"callback\" argument must be a function");
  if (h->closing) {
    nat_throw(env, NAT_ECLOSING, "the hasher is closed");
    return NULL;
  }

  job_t* j = calloc(1, sizeof(*j));
  if (j == NULL) return throw_nat(env, NAT_ENOMEM, "hash");
  j->data = data;
  j->len = len;
  if (napi_create_reference(env, argv[1], 1, &j->buffer) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &j->callback) != napi_ok) {
    job_free(env, j);
    return throw_nat(env, NAT_ENAPI, "hash");
  }
  /* The link: recorded in the current frame; the task captures this
   * frame's async context. */
  int err = nat->queue_link(h->q, &j->task);
  if (err != 0) {
    job_free(env, j);
    return throw_nat(env, err, "queue_link");
  }
  if (h->outstanding++ == 0) {
    nat->queue_ref(env, h->q);
    napi_reference_ref(env, h->self, NULL);
  }
  uv_mutex_lock(&h->mu);
  if (h->tail != NULL) h->tail->next = j;
  else h->head = j;
  h->tail = j;
  uv_cond_signal(&h->cv);
  uv_mutex_unlock(&h->mu);
  return NULL;
}

/* close(handle): no new hashes; the queue is released after the last
 * outstanding one is delivered (now, if none is). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  hasher_t* h = get_hasher(env, argc >= 1 ? argv[0] : NULL);
  if (h == NULL) return NULL;
  h->closing = 1;
  if (h->outstanding == 0) hasher_shutdown(h, 0);
  return NULL;
}

/* state(handle) -> { outstanding, closing, released, joined, threads } */
static napi_value js_state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  hasher_t* h = get_hasher(env, argc >= 1 ? argv[0] : NULL);
  if (h == NULL) return NULL;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_double(env, (double)h->outstanding, &v);
  napi_set_named_property(env, o, "outstanding", v);
  napi_get_boolean(env, h->closing, &v);
  napi_set_named_property(env, o, "closing", v);
  napi_get_boolean(env, h->released, &v);
  napi_set_named_property(env, o, "released", v);
  napi_get_boolean(env, h->joined, &v);
  napi_set_named_property(env, o, "joined", v);
  napi_create_int32(env, h->joined ? 0 : h->nthreads, &v);
  napi_set_named_property(env, o, "threads", v);
  return o;
}

#define EXPORTS(V)     \
  V("create", js_create) \
  V("hash", js_hash)     \
  V("close", js_close)   \
  V("state", js_state)

NAPI_MODULE_INIT() {
  /* Fails with NAT_ENOTLOADED unless require('napi-async-trace') ran first
   * in this thread. */
  if (nat_import(env, &nat) != 0) return NULL;
  napi_property_descriptor props[] = {
#define V(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL},
      EXPORTS(V)
#undef V
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]),
                             props) != napi_ok)
    return NULL;
  return exports;
}
